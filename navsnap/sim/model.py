"""Run one simulated year: check the database state, then insert that year's rows.

:func:`run_year` is the whole public surface. It works in one transaction of its own: either
every row of the year is inserted (and, on the first call, every global table created) or
nothing is. It only ever *inserts* rows of ``year``; earlier partitions and the global tables
are never touched after creation, which is what lets snapshots share unchanged partitions.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import duckdb

from navsnap.sim.params import SimulationParams
from navsnap.sim.schema import (
    GLOBAL_TABLES,
    IRS_YEARS_AFTER,
    IRS_YEARS_BEFORE,
    YEAR_TABLES,
    create_schema,
    params_json,
)
from navsnap.sim.year_sql import (
    CONTRIBUTIONS_INSERT,
    EVENTS_INSERT,
    SNAPSHOT_INSERT,
    TEMP_MACROS,
    WORK_TABLE,
    work_table_sql,
)

__all__ = ["run_year"]

_INSERTS = {
    "fct_yearly_events": EVENTS_INSERT,
    "fct_workforce_snapshot": SNAPSHOT_INSERT,
    "int_employee_contributions": CONTRIBUTIONS_INSERT,
}


def run_year(
    con: duckdb.DuckDBPyConnection, *, year: int, params: SimulationParams, seed: int
) -> dict[str, int]:
    """Simulate ``year`` and return the rows written per year table.

    The first call (no ``census`` table yet) creates the global tables, the census dated
    December 31st of ``year - 1``, the empty year tables, the ``sim_age_band`` macro and the
    ``v_workforce_summary`` view. Later calls start from the ``fct_workforce_snapshot`` rows
    of ``year - 1`` (or from the census while the year tables are empty).

    Raises ValueError, changing nothing, when ``year`` is not the next year to simulate, when
    the schema is partial, or when ``params`` differ from those the globals were created with.
    Runs in its own transaction, so it must not be called inside an open one.
    """
    params.validate()
    first_limit_year = params.irs.base_year - IRS_YEARS_BEFORE + 1
    last_limit_year = params.irs.base_year + IRS_YEARS_AFTER
    if not first_limit_year <= year <= last_limit_year:
        raise ValueError(
            f"year {year} is outside the IRS limit table ({first_limit_year}-{last_limit_year},"
            f" around simulation.irs.base_year = {params.irs.base_year})"
        )
    con.begin()
    try:
        con.execute(TEMP_MACROS)
        existing = _existing_objects(con)
        if "census" not in existing:
            ours = existing & {*GLOBAL_TABLES, *YEAR_TABLES, "v_workforce_summary"}
            if ours:
                raise ValueError(
                    "the database holds simulation objects but no census table "
                    f"({', '.join(sorted(ours))}); start from an empty database"
                )
            create_schema(con, first_year=year, params=params, seed=seed)
            from_census = True
        else:
            missing = {*GLOBAL_TABLES, *YEAR_TABLES} - existing
            if missing:
                raise ValueError(
                    f"the simulation schema is incomplete: missing {', '.join(sorted(missing))}"
                )
            _check_params(con, params)
            from_census = _check_year(con, year)
        con.execute(work_table_sql(from_census=from_census), {"year": year, "seed": seed})
        written: dict[str, int] = {}
        for table in YEAR_TABLES:
            row = con.execute(_INSERTS[table], {"year": year}).fetchone()
            written[table] = int(row[0]) if row else 0
        con.execute(f"DROP TABLE {WORK_TABLE}")
        con.commit()
    except BaseException:
        # A failed commit (a full disk) leaves no transaction: keep the error that says why.
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
    return written


def _existing_objects(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        """
        SELECT table_name FROM duckdb_tables()
        WHERE database_name = current_database() AND schema_name = current_schema()
        UNION ALL
        SELECT view_name FROM duckdb_views()
        WHERE database_name = current_database() AND schema_name = current_schema()
          AND NOT internal
        """
    ).fetchall()
    return {str(name) for (name,) in rows}


def _check_year(con: duckdb.DuckDBPyConnection, year: int) -> bool:
    """Raise unless ``year`` is the next year; True when the census is the baseline."""
    row = con.execute(
        """
        SELECT (SELECT first_year FROM plan_parameters),
               greatest((SELECT max(simulation_year) FROM fct_yearly_events),
                        (SELECT max(simulation_year) FROM fct_workforce_snapshot),
                        (SELECT max(simulation_year) FROM int_employee_contributions)),
               (SELECT count(*) FROM fct_workforce_snapshot WHERE simulation_year = $prev)
        """,
        {"prev": year - 1},
    ).fetchone()
    assert row is not None
    first_year, latest, baseline_rows = int(row[0]), row[1], int(row[2])
    if latest is None:
        if year != first_year:
            raise ValueError(
                f"the census is dated {first_year - 1}-12-31, so the first simulated year must be"
                f" {first_year}, not {year}"
            )
        return True
    if latest >= year:
        raise ValueError(
            f"the year tables already hold rows of year {latest}, at or after {year}; restore"
            f" the snapshot of {year - 1} before simulating {year} again"
        )
    if baseline_rows == 0:
        raise ValueError(
            f"fct_workforce_snapshot has no rows for {year - 1}, the baseline of {year};"
            f" the latest simulated year is {latest}, so the next one is {latest + 1}"
        )
    return False


def _check_params(con: duckdb.DuckDBPyConnection, params: SimulationParams) -> None:
    row = con.execute("SELECT params_json FROM plan_parameters").fetchone()
    stored = str(row[0]) if row else "{}"
    current = params_json(params)
    if stored == current:
        return
    old, new = _flat(json.loads(stored)), _flat(json.loads(current))
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    raise ValueError(
        "simulation parameters differ from those the global tables were created with: "
        + ", ".join(f"simulation.{k}" for k in changed)
    )


def _flat(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
