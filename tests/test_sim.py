"""The built-in simulation: determinism, year isolation, plan rules and the state checks."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import navsnap.sim
from navsnap.sim import (
    GLOBAL_TABLES,
    YEAR_TABLES,
    SimulationParams,
    run_year,
    validation_aggregates,
)
from navsnap.sim.params import CensusParams, PlanParams, WorkforceParams, iter_param_docs
from navsnap.sim.validation import BITMAP_RANGE

YEARS = range(2025, 2030)
SEED = 42
PARAMS = SimulationParams(employees=2_000)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "simulation.md"

Fingerprints = dict[str, tuple[int, str]]


def fingerprints(con: duckdb.DuckDBPyConnection) -> Fingerprints:
    """Order-independent fingerprint of every simulation table."""
    out: Fingerprints = {}
    for table in (*GLOBAL_TABLES, *YEAR_TABLES):
        row = con.execute(
            f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM {table} t"
        ).fetchone()
        assert row is not None
        out[table] = (int(row[0]), str(row[1]))
    return out


def partition_fingerprints(con: duckdb.DuckDBPyConnection, year: int) -> Fingerprints:
    out: Fingerprints = {}
    for table in YEAR_TABLES:
        row = con.execute(
            f"SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM {table} t"
            " WHERE simulation_year = ?",
            [year],
        ).fetchone()
        assert row is not None
        out[table] = (int(row[0]), str(row[1]))
    return out


def simulate(
    path: Path, *, threads: int, params: SimulationParams = PARAMS, seed: int = SEED
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(f"SET threads = {threads}")
    for year in YEARS:
        run_year(con, year=year, params=params, seed=seed)
    return con


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[int, duckdb.DuckDBPyConnection]]:
    """The same five years simulated with 1 and with 2 threads."""
    base = tmp_path_factory.mktemp("sim")
    cons = {threads: simulate(base / f"t{threads}.duckdb", threads=threads) for threads in (1, 2)}
    yield cons
    for con in cons.values():
        con.close()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    yield con
    con.close()


# --------------------------------------------------------------------------- determinism


def test_public_api_is_exactly_all() -> None:
    assert set(navsnap.sim.__all__) >= {"YEAR_TABLES", "run_year", "validation_aggregates"}
    for name in navsnap.sim.__all__:
        assert hasattr(navsnap.sim, name)
    assert YEAR_TABLES == (
        "fct_yearly_events",
        "fct_workforce_snapshot",
        "int_employee_contributions",
    )


def test_one_and_two_threads_give_identical_tables(
    runs: dict[int, duckdb.DuckDBPyConnection],
) -> None:
    one, two = fingerprints(runs[1]), fingerprints(runs[2])
    assert one == two
    assert all(rows > 0 for rows, _ in one.values())


def test_one_and_two_threads_give_identical_rows_in_identical_order(
    runs: dict[int, duckdb.DuckDBPyConnection],
) -> None:
    for table in YEAR_TABLES:
        rows = [runs[t].execute(f"SELECT * FROM {table}").fetchall() for t in (1, 2)]
        assert rows[0] == rows[1], table
    sorted_events = [
        runs[t]
        .execute(
            "SELECT * FROM fct_yearly_events ORDER BY simulation_year, employee_id, event_sequence"
        )
        .fetchall()
        for t in (1, 2)
    ]
    assert sorted_events[0] == sorted_events[1]
    assert len(sorted_events[0]) > 10_000


def test_another_seed_gives_other_tables(
    tmp_path: Path, runs: dict[int, duckdb.DuckDBPyConnection]
) -> None:
    con = duckdb.connect(str(tmp_path / "other.duckdb"))
    run_year(con, year=2025, params=PARAMS, seed=SEED + 1)
    assert partition_fingerprints(con, 2025) != partition_fingerprints(runs[1], 2025)
    con.close()


def test_each_year_depends_only_on_the_database(
    tmp_path: Path, runs: dict[int, duckdb.DuckDBPyConnection]
) -> None:
    path = tmp_path / "reopened.duckdb"
    for year in YEARS:
        con = duckdb.connect(str(path))
        con.execute("SET threads = 2")
        run_year(con, year=year, params=PARAMS, seed=SEED)
        con.close()
    con = duckdb.connect(str(path))
    assert fingerprints(con) == fingerprints(runs[1])
    con.close()


def test_money_and_rates_are_never_floating_point(
    runs: dict[int, duckdb.DuckDBPyConnection],
) -> None:
    rows = (
        runs[1]
        .execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND NOT internal"
        )
        .fetchall()
    )
    assert rows
    floating = [r for r in rows if r[2] in ("DOUBLE", "FLOAT", "REAL")]
    assert floating == []


# --------------------------------------------------------------------------- model rules


def test_growth_target_is_met(runs: dict[int, duckdb.DuckDBPyConnection]) -> None:
    con = runs[1]
    previous = PARAMS.employees
    for year in YEARS:
        row = con.execute(
            "SELECT count(*) FROM fct_workforce_snapshot "
            "WHERE simulation_year = ? AND employment_status = 'active'",
            [year],
        ).fetchone()
        assert row is not None
        target = round(previous * (1 + PARAMS.workforce.growth_rate))
        assert target <= row[0] <= target + 1, (year, row[0], target)
        previous = row[0]


def test_every_year_has_terminations_hires_and_plan_events(
    runs: dict[int, duckdb.DuckDBPyConnection],
) -> None:
    for year in YEARS:
        dist = validation_aggregates(runs[1], year=year)["event_type_distribution"]
        assert isinstance(dist, dict)
        for kind in (
            "hire",
            "termination",
            "new_hire_termination",
            "promotion",
            "merit_raise",
            "eligibility",
            "enrollment",
            "opt_out",
            "deferral_escalation",
        ):
            assert dist.get(kind, 0) > 0, (year, kind)


def test_new_hire_ids_are_new_and_unique(runs: dict[int, duckdb.DuckDBPyConnection]) -> None:
    con = runs[1]
    dup = con.execute(
        "SELECT count(*) - count(DISTINCT employee_id) FROM fct_yearly_events "
        "WHERE event_type = 'hire'"
    ).fetchone()
    assert dup == (0,)
    reused = con.execute(
        """
        SELECT count(*) FROM fct_yearly_events e
        WHERE e.event_type = 'hire'
          AND (e.employee_id IN (SELECT employee_id FROM census)
               OR e.employee_id IN (SELECT employee_id FROM fct_workforce_snapshot
                                    WHERE simulation_year < e.simulation_year))
        """
    ).fetchone()
    assert reused == (0,)


def test_terminated_employees_do_not_come_back(runs: dict[int, duckdb.DuckDBPyConnection]) -> None:
    row = (
        runs[1]
        .execute(
            """
        SELECT count(*) FROM fct_workforce_snapshot a
        JOIN fct_workforce_snapshot b
          ON b.employee_id = a.employee_id AND b.simulation_year > a.simulation_year
        WHERE a.employment_status = 'terminated'
        """
        )
        .fetchone()
    )
    assert row == (0,)


def test_escalation_stops_at_the_cap(runs: dict[int, duckdb.DuckDBPyConnection]) -> None:
    row = (
        runs[1]
        .execute(
            "SELECT count(*), max(employee_deferral_rate) FROM fct_yearly_events "
            "WHERE event_type = 'deferral_escalation'"
        )
        .fetchone()
    )
    assert row is not None and row[0] > 0
    assert float(row[1]) == pytest.approx(PARAMS.plan.escalation_cap)


HIGH_DEFERRALS = SimulationParams(
    employees=1_500,
    census=CensusParams(min_deferral_rate=0.25, max_deferral_rate=0.50, participation_rate=1.0),
    plan=PlanParams(escalation_cap=0.60, escalation_increment=0.05),
)


def test_contributions_never_exceed_the_irs_limit(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "high.duckdb"))
    for year in (2025, 2026):
        run_year(con, year=year, params=HIGH_DEFERRALS, seed=SEED)
    over, capped, catch_up_used, wrong_flag = con.execute(
        """
        SELECT count(*) FILTER (WHERE c.annual_contribution_amount > l.elective_deferral_limit
                                   + CASE WHEN c.age >= 50 THEN l.catch_up_limit ELSE 0 END),
               count(*) FILTER (WHERE c.irs_limit_reached AND c.requested_contribution_amount
                                                              > c.annual_contribution_amount),
               count(*) FILTER (WHERE c.age >= 50
                                  AND c.annual_contribution_amount > l.elective_deferral_limit),
               count(*) FILTER (WHERE c.catch_up_eligible <> (c.age >= 50))
        FROM int_employee_contributions c
        JOIN irs_limits l ON l.limit_year = c.simulation_year
        """
    ).fetchone() or (None, None, None, None)
    con.close()
    assert over == 0
    assert capped > 50  # the scenario does hit the limit, so the check above means something
    assert catch_up_used > 0
    assert wrong_flag == 0


def test_match_follows_the_tiers(runs: dict[int, duckdb.DuckDBPyConnection]) -> None:
    # Default tiers: 100% of the first 3% deferred, 50% of the next 2%; never more than 4%.
    row = (
        runs[1]
        .execute(
            """
        SELECT count(*) FILTER (WHERE employer_match_amount
                                  > round(0.04 * deferral_compensation, 2) + 0.01),
               count(*) FILTER (WHERE annual_contribution_amount = 0 AND employer_match_amount > 0),
               count(*) FILTER (WHERE employer_match_amount > 0)
        FROM int_employee_contributions
        """
        )
        .fetchone()
    )
    assert row is not None
    assert row[0] == 0 and row[1] == 0 and row[2] > 0


# --------------------------------------------------------------------------- year isolation


def test_a_year_only_inserts_its_own_rows(fresh: duckdb.DuckDBPyConnection) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    run_year(fresh, year=2026, params=PARAMS, seed=SEED)
    before = fingerprints(fresh)
    earlier = {y: partition_fingerprints(fresh, y) for y in (2025, 2026)}
    written = run_year(fresh, year=2027, params=PARAMS, seed=SEED)
    after = fingerprints(fresh)
    for table in GLOBAL_TABLES:
        assert after[table] == before[table], table
    for year in (2025, 2026):
        assert partition_fingerprints(fresh, year) == earlier[year]
    for table in YEAR_TABLES:
        assert after[table][0] - before[table][0] == written[table] > 0
        row = fresh.execute(f"SELECT count(*) FROM {table} WHERE simulation_year = 2027").fetchone()
        assert row == (written[table],)


def test_the_first_year_creates_globals_a_macro_and_a_view(
    fresh: duckdb.DuckDBPyConnection,
) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    census = fresh.execute("SELECT count(*), count(DISTINCT employee_id) FROM census").fetchone()
    assert census == (PARAMS.employees, PARAMS.employees)
    constraints = fresh.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'census' "
        "AND constraint_type IN ('PRIMARY KEY', 'NOT NULL')"
    ).fetchone()
    assert constraints is not None and constraints[0] >= 2
    views = fresh.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert views == [("v_workforce_summary",)]
    macros = fresh.execute(
        "SELECT DISTINCT function_name FROM duckdb_functions() "
        "WHERE function_type = 'macro' AND database_name = current_database() "
        "AND NOT internal"
    ).fetchall()
    assert macros == [("sim_age_band",)]
    summary = fresh.execute(
        "SELECT sum(active_headcount) FROM v_workforce_summary WHERE simulation_year = 2025"
    ).fetchone()
    assert summary == (validation_aggregates(fresh, year=2025)["workforce_count"],)
    sequences = fresh.execute("SELECT count(*) FROM duckdb_sequences()").fetchone()
    assert sequences == (0,)


def _expect_value_error(
    con: duckdb.DuckDBPyConnection, match: str, action: Callable[[], Any]
) -> None:
    before = fingerprints(con)
    with pytest.raises(ValueError, match=match):
        action()
    assert fingerprints(con) == before


def test_rerunning_or_going_back_is_refused(fresh: duckdb.DuckDBPyConnection) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    run_year(fresh, year=2026, params=PARAMS, seed=SEED)
    for year in (2025, 2026):
        _expect_value_error(
            fresh,
            "already hold rows of year 2026",
            lambda y=year: run_year(fresh, year=y, params=PARAMS, seed=SEED),  # type: ignore[misc]
        )


def test_skipping_a_year_is_refused(fresh: duckdb.DuckDBPyConnection) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    _expect_value_error(
        fresh, "no rows for 2026", lambda: run_year(fresh, year=2027, params=PARAMS, seed=SEED)
    )


def test_missing_baseline_year_is_refused(fresh: duckdb.DuckDBPyConnection) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    fresh.execute("DELETE FROM fct_workforce_snapshot")  # events of 2025 remain
    _expect_value_error(
        fresh, "no rows for 2025", lambda: run_year(fresh, year=2026, params=PARAMS, seed=SEED)
    )


def test_empty_year_tables_restart_only_at_the_census_year(
    fresh: duckdb.DuckDBPyConnection,
) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    first = partition_fingerprints(fresh, 2025)
    for table in YEAR_TABLES:
        fresh.execute(f"DELETE FROM {table}")
    _expect_value_error(
        fresh,
        "first simulated year must be 2025",
        lambda: run_year(fresh, year=2026, params=PARAMS, seed=SEED),
    )
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    assert partition_fingerprints(fresh, 2025) == first


def test_changed_parameters_are_refused(fresh: duckdb.DuckDBPyConnection) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    changed = dataclasses.replace(PARAMS, workforce=WorkforceParams(growth_rate=0.05))
    _expect_value_error(
        fresh,
        r"simulation\.workforce\.growth_rate",
        lambda: run_year(fresh, year=2026, params=changed, seed=SEED),
    )


def test_a_partial_schema_is_refused(fresh: duckdb.DuckDBPyConnection) -> None:
    fresh.execute("CREATE TABLE fct_yearly_events (simulation_year INTEGER)")
    with pytest.raises(ValueError, match="no census table"):
        run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    tables = fresh.execute("SELECT table_name FROM duckdb_tables()").fetchall()
    assert tables == [("fct_yearly_events",)]


def test_years_outside_the_irs_table_are_refused(fresh: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="outside the IRS limit table"):
        run_year(fresh, year=2200, params=PARAMS, seed=SEED)
    assert fresh.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)


# --------------------------------------------------------------------------- validation


def test_validation_aggregates_are_deterministic_and_json(
    runs: dict[int, duckdb.DuckDBPyConnection],
) -> None:
    for year in YEARS:
        one = validation_aggregates(runs[1], year=year)
        assert one == validation_aggregates(runs[1], year=year)
        assert one == validation_aggregates(runs[2], year=year)
        assert json.loads(json.dumps(one)) == one
        assert one["duplicate_event_count"] == 0
        assert one["duplicate_snapshot_rows"] == 0
        row = (
            runs[1]
            .execute(
                "SELECT count(*), sum(total_compensation)::VARCHAR FROM fct_workforce_snapshot "
                "WHERE simulation_year = ? AND employment_status = 'active'",
                [year],
            )
            .fetchone()
        )
        assert row is not None and one["workforce_count"] == row[0]
        assert re.fullmatch(r"\d+\.\d\d", str(one["total_employee_contributions"]))


def test_duplicate_events_are_counted(fresh: duckdb.DuckDBPyConnection) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    assert validation_aggregates(fresh, year=2025)["duplicate_event_count"] == 0
    fresh.execute(
        "INSERT INTO fct_yearly_events "
        "SELECT * FROM fct_yearly_events WHERE event_type = 'hire' LIMIT 3"
    )
    assert validation_aggregates(fresh, year=2025)["duplicate_event_count"] == 3


# The duplicate counts as DISTINCT and the exact grouping define them: what the bitmap
# counts and screens must equal.
_DUPLICATES_ORACLE = (
    "SELECT (SELECT (count(*) - count(DISTINCT employee_id))::BIGINT "
    "FROM fct_workforce_snapshot WHERE simulation_year = $year), "
    "(SELECT coalesce(sum(n - 1), 0)::BIGINT FROM (SELECT count(*) AS n "
    "FROM fct_yearly_events WHERE simulation_year = $year "
    "GROUP BY employee_id, simulation_year, event_type, effective_date HAVING count(*) > 1))"
)


class _Recorder:
    """A connection that remembers the SQL it ran."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con, self.sql = con, list[str]()

    def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        self.sql.append(sql)
        return self.con.execute(sql, params)


@pytest.mark.parametrize("spread", ["narrow", "wide"])
def test_duplicate_counts_equal_distinct_and_the_exact_grouping(
    fresh: duckdb.DuckDBPyConnection, spread: str
) -> None:
    """Duplicated rows and events, NULL employee ids, a type made only of NULL ids; with
    ids spread too wide for the bitmap, the DISTINCT queries give the same numbers."""
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    for table in ("fct_workforce_snapshot", "fct_yearly_events"):
        fresh.execute(f"ALTER TABLE {table} ALTER employee_id DROP NOT NULL")
        fresh.execute(f"INSERT INTO {table} SELECT * FROM {table} ORDER BY ALL LIMIT 3")
        fresh.execute(
            f"INSERT INTO {table} SELECT * REPLACE (NULL AS employee_id) FROM {table} "
            "ORDER BY ALL LIMIT 2"
        )
    fresh.execute(
        "INSERT INTO fct_yearly_events SELECT * REPLACE (NULL AS employee_id, "
        "'nobody' AS event_type) FROM fct_yearly_events ORDER BY ALL LIMIT 2"
    )
    if spread == "wide":
        for table in ("fct_workforce_snapshot", "fct_yearly_events"):
            fresh.execute(
                f"INSERT INTO {table} SELECT * REPLACE (employee_id + {BITMAP_RANGE} "
                "AS employee_id) "
                f"FROM {table} WHERE employee_id IS NOT NULL ORDER BY ALL LIMIT 1"
            )
    con = _Recorder(fresh)
    got = validation_aggregates(con, year=2025)  # type: ignore[arg-type]
    want = fresh.execute(_DUPLICATES_ORACLE, {"year": 2025}).fetchone()
    assert want is not None and want[0] >= 3 and want[1] >= 5
    assert (got["duplicate_snapshot_rows"], got["duplicate_event_count"]) == want
    assert any("DISTINCT" in sql for sql in con.sql) == (spread == "wide")


@pytest.mark.parametrize(
    ("id_type", "bitmap"),
    [
        ("HUGEINT", False),
        ("UHUGEINT", False),
        ("BOOLEAN", False),
        ("VARCHAR", False),
        ("INTEGER", True),
        ("UBIGINT", True),
    ],
)
def test_duplicate_counts_of_employee_ids_of_another_type(
    fresh: duckdb.DuckDBPyConnection, id_type: str, bitmap: bool
) -> None:
    """A user's schema may retype employee_id: bitstring_agg refuses some types (BOOLEAN and
    UHUGEINT on DuckDB 2.x, HUGEINT and UHUGEINT on 1.0), so those take the DISTINCT queries
    (a failed query would abort the snapshot's transaction) and give the same numbers; the
    other integer types keep the bitmap."""
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    for table in ("fct_workforce_snapshot", "fct_yearly_events"):
        fresh.execute(f"ALTER TABLE {table} ALTER employee_id TYPE {id_type}")
        fresh.execute(f"INSERT INTO {table} SELECT * FROM {table} ORDER BY ALL LIMIT 3")
    con = _Recorder(fresh)
    got = validation_aggregates(con, year=2025)  # type: ignore[arg-type]
    want = fresh.execute(_DUPLICATES_ORACLE, {"year": 2025}).fetchone()
    assert want is not None and want[0] >= 3 and want[1] >= 3
    assert (got["duplicate_snapshot_rows"], got["duplicate_event_count"]) == want
    assert any("bitstring_agg" in sql for sql in con.sql) == bitmap
    assert any("DISTINCT" in sql for sql in con.sql) != bitmap


def test_a_year_without_duplicates_is_proven_so_without_distinct_or_grouping_by_key(
    fresh: duckdb.DuckDBPyConnection,
) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    con = _Recorder(fresh)
    got = validation_aggregates(con, year=2025)  # type: ignore[arg-type]
    assert (got["duplicate_snapshot_rows"], got["duplicate_event_count"]) == (0, 0)
    assert not [sql for sql in con.sql if "DISTINCT" in sql or "HAVING" in sql]
    # one duplicated event makes the screen run the exact query
    fresh.execute("INSERT INTO fct_yearly_events SELECT * FROM fct_yearly_events LIMIT 1")
    con = _Recorder(fresh)
    assert validation_aggregates(con, year=2025)["duplicate_event_count"] == 1  # type: ignore[arg-type]
    assert [sql for sql in con.sql if "HAVING" in sql]


def test_validation_aggregates_of_an_empty_year(fresh: duckdb.DuckDBPyConnection) -> None:
    run_year(fresh, year=2025, params=PARAMS, seed=SEED)
    empty = validation_aggregates(fresh, year=2030)
    assert empty["workforce_count"] == 0
    assert empty["event_type_distribution"] == {}
    json.dumps(empty)


# --------------------------------------------------------------------------- parameters and docs


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (SimulationParams(census=CensusParams(level_mix=[0.5, 0.5, 0.1, 0.0, 0.0])), "sum to 1"),
        (SimulationParams(census=CensusParams(level_mix=[1.0])), "needs 5 entries"),
        (SimulationParams(plan=PlanParams(opt_out_rate=0.12345)), "decimal places"),
        (SimulationParams(workforce=WorkforceParams(tenure_band_edges=[3, 1])), "increasing"),
        (SimulationParams(workforce=WorkforceParams(termination_rates=[0.1])), "one entry more"),
        (SimulationParams(plan=PlanParams(match_tier_rates=[1.0])), "equal lengths"),
        (SimulationParams(census=CensusParams(min_age=60, max_age=30)), "must not exceed"),
    ],
)
def test_validate_rejects_inconsistent_parameters(params: SimulationParams, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        params.validate()


def test_defaults_are_valid() -> None:
    SimulationParams().validate()
    assert SimulationParams().employees == 10_000


def test_config_loader_reads_nested_tables() -> None:
    from navsnap.config import load_config
    from navsnap.errors import ConfigError

    config = load_config(
        overrides={"simulation.plan.escalation_cap": 0.12, "simulation.employees": 50},
        search_cwd=False,
    )
    assert config.simulation.plan.escalation_cap == 0.12
    assert config.simulation.employees == 50
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config(overrides={"simulation.plan.no_such_key": 1}, search_cwd=False)
    with pytest.raises(ConfigError, match="<= 10000000"):
        load_config(overrides={"simulation.employees": 10_000_001}, search_cwd=False)


def test_every_parameter_field_is_documented_in_metadata() -> None:
    docs = list(iter_param_docs())
    assert len(docs) > 40
    assert all(doc.doc for doc in docs)


def test_docs_list_every_key_with_its_default() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for doc in iter_param_docs():
        row = next(
            (line for line in text.splitlines() if line.startswith(f"| `{doc.key}` |")), None
        )
        assert row is not None, f"docs/simulation.md lacks simulation.{doc.key}"
        assert f"`{json.dumps(doc.value)}`" in row, f"wrong default for {doc.key}"
