"""What a year's step must leave behind, and what a new run may start on (issue 11).

Reproduced before the fix: a shell step that changed directory and wrote to a relative
``{db}`` left navsnap's database untouched; navsnap created an empty one, snapshotted 0 tables
(``+0 B``) and exited 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke, pythonpath, table_fingerprints, tree_bytes

import navsnap
from navsnap.index import read_all
from navsnap.store import open_store
from navsnap.yearcheck import RowCounts, step_result_error

WRITER = (
    "import duckdb, sys\n"
    "db, year = sys.argv[1], int(sys.argv[2])\n"
    "c = duckdb.connect(db)\n"
    "c.execute('CREATE TABLE IF NOT EXISTS t (simulation_year INTEGER, v INTEGER)')\n"
    "c.execute('INSERT INTO t VALUES (?, ?)', [year, year * 2])\n"
)

#: A Python step that misbehaves in 2026 as NAVSNAP_TEST_BREAK says.
BREAKING = """
import os
import toy_pipeline

def step(con, year, config):
    how = os.environ.get("NAVSNAP_TEST_BREAK", "") if year == 2026 else ""
    if how != "nothing":
        toy_pipeline.step(con, year, config)
    if how == "drop":
        con.execute("DROP TABLE audit.log")
    elif how == "empty":
        con.execute("DELETE FROM audit.log")
"""


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # shell steps change directory: they import the test's DuckDB through absolute paths
    monkeypatch.setenv("PYTHONPATH", pythonpath())


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("navsnap: error: "), err
    return lines[0]


def test_a_shell_step_that_changes_directory_still_writes_navsnaps_database(
    tmp_path: Path,
) -> None:
    (tmp_path / "step.py").write_text(WRITER)
    (tmp_path / "elsewhere").mkdir()
    step = f"cd elsewhere && {sys.executable} ../step.py {{db}} {{year}}"
    code, _, err = invoke("run", "--years", "2025-2026", "--db", "sim.duckdb", "--step", step)
    assert code == 0, err
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert table_fingerprints(tmp_path / "sim.duckdb")["main.t"][0] == 2
    manifests = read_all(open_store(tmp_path / "snapshots"))[0]
    assert [m.table("t").rows for m in manifests] == [1, 2]


def test_a_step_that_writes_no_database_fails_its_year(tmp_path: Path) -> None:
    (tmp_path / "step.py").write_text(WRITER)
    step = f"{sys.executable} step.py other.duckdb {{year}}"  # not {db}
    code, _, err = invoke("run", "--years", "2025-2026", "--db", "sim.duckdb", "--step", step)
    line = one_line(err)
    assert code == 5 and "year 2025: the step left no database at" in line, err
    assert "sim.duckdb" in line and "{db}" in line
    assert not (tmp_path / "sim.duckdb").exists()
    assert not list((tmp_path / "snapshots").glob("manifests/*"))


@pytest.mark.parametrize(
    ("how", "needle"),
    [
        ("drop", "without table(s) it had: audit.log"),
        ("empty", "emptied table(s) that held rows: audit.log"),
        ("nothing", "no row of 2026 in any year-scoped table"),
    ],
)
def test_a_year_that_loses_tables_or_writes_no_rows_is_not_snapshotted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, needle: str
) -> None:
    (tmp_path / "breaking_step.py").write_text(BREAKING)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("NAVSNAP_TEST_BREAK", how)
    code, _, err = invoke(
        "run", "--years", "2025-2027", "--db", "sim.duckdb", "--step", "breaking_step:step"
    )
    assert code == 5, err
    assert needle in one_line(err)
    st = open_store(tmp_path / "snapshots")
    assert [m.year for m in read_all(st)[0]] == [2025]  # 2026 not written, 2025 intact
    assert navsnap.verify_store(st).ok


def test_the_step_result_rules_are_pure() -> None:
    ok = RowCounts({"t": 2, "g": 1}, {"t": 1})
    assert step_result_error(2026, {"t": 1, "g": 1}, ok, db_path=Path("d"), year_column="y") is None
    assert step_result_error(2025, {}, ok, db_path=Path("d"), year_column="y") is None
    no_year_tables = RowCounts({"g": 1}, {})
    err = step_result_error(2025, {}, no_year_tables, db_path=Path("d"), year_column="yr")
    assert err is not None and "none has the column 'yr'" in err.message
    # a global table that had no rows may stay empty
    assert step_result_error(2026, {"e": 0}, RowCounts({"e": 0, "t": 1}, {"t": 1}),
                             db_path=Path("d"), year_column="y") is None  # fmt: skip


def both(db: Path, store: Path) -> dict[str, bytes]:
    return {**{f"db/{k}": v for k, v in tree_bytes(db).items()}, **tree_bytes(store)}


def test_a_plain_run_on_another_lineages_database_is_refused(tmp_path: Path) -> None:
    db, store = tmp_path / "sim.duckdb", tmp_path / "snapshots"
    code, _, err = invoke(
        "run", "--years", "2025-2026", "--db", "sim.duckdb", "--step", TOY_STEP, "--seed", "1"
    )
    assert code == 0, err
    before = both(db, store)
    assert any(k.startswith("db/") for k in before)
    code, _, err = invoke(
        "run", "--years", "2025-2026", "--db", "sim.duckdb", "--step", TOY_STEP, "--seed", "2"
    )
    line = one_line(err)
    assert code == 10 and "holds tables of another lineage" in line, err
    assert "run.seed: 1 -> 2" in line
    assert "--resume" in line and "--force-restart" in line and "--db" in line
    assert both(db, store) == before


def test_a_plain_run_over_years_its_lineage_already_built_is_refused(tmp_path: Path) -> None:
    """Run twice with the same step and config: the second run's 2025 would be built on top
    of 2025-2026's rows (an appending step doubles them) and its 2025 snapshot would hold
    2026. A run that starts after the newest year held continues the database."""
    db, store = tmp_path / "sim.duckdb", tmp_path / "snapshots"
    run = ("run", "--db", "sim.duckdb", "--step", TOY_STEP)
    code, _, err = invoke(*run, "--years", "2025-2026")
    assert code == 0, err
    before = both(db, store)
    code, _, err = invoke(*run, "--years", "2025-2026")
    line = one_line(err)
    assert code == 2 and "already holds rows of 2026 of this run's lineage" in line, err
    assert "--resume" in line and "--force-restart" in line
    assert both(db, store) == before
    code, _, err = invoke(*run, "--years", "2027-2027")
    assert code == 0, err


def test_a_plain_run_on_tables_with_no_snapshot_is_refused(tmp_path: Path) -> None:
    db, store = tmp_path / "sim.duckdb", tmp_path / "snapshots"
    code, _, err = invoke(
        "run", "--years", "2025-2025", "--db", "sim.duckdb", "--step", TOY_STEP, "--no-snapshots"
    )
    assert code == 0, err
    before = both(db, store)
    assert any(k.startswith("db/") for k in before)
    code, _, err = invoke("run", "--years", "2026-2026", "--db", "sim.duckdb", "--step", TOY_STEP)
    line = one_line(err)
    assert code == 2 and "has no snapshot of database 'sim'" in line, err
    assert "--force-restart" in line
    assert both(db, store) == before and not store.exists()
