"""The floor rows of scripts/bench.py (docs/benchmarks.md) do the work they claim no
restore can avoid: :func:`bench.load_floor` builds the snapshot's tables with every row,
and :func:`bench.reload_floor` brings a :func:`bench.damaged_copy` back to the snapshot's
rows. A floor that skipped part of that work would make a missed target look unreachable.
(Their speed is measured by the benchmark, never asserted here.)"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest

import navsnap
from navsnap.catalog import fingerprints, list_tables
from navsnap.index import read_all
from navsnap.manifest import Fingerprint, Manifest, PartitionKey
from navsnap.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench


def _fingerprints(db: Path, manifest: Manifest) -> dict[str, dict[PartitionKey, Fingerprint]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {t.key: t for t in list_tables(con, year_column=manifest.year_column)}
        return {t.name: fingerprints(con, tables[t.name]) for t in manifest.tables}
    finally:
        con.close()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Manifest]:
    work = tmp_path_factory.mktemp("floor")
    db, store = work / "sim.duckdb", work / "store"
    navsnap.run(bench.config(300), db=db, years=bench.YEARS, store=str(store))
    return db, store, read_all(open_store(store))[0][-1]


def test_load_floor_builds_every_row_of_the_snapshot(
    run: tuple[Path, Path, Manifest], tmp_path: Path
) -> None:
    db, store, last = run
    out = tmp_path / "loaded.duckdb"
    bench.load_floor(store, last, out)
    assert _fingerprints(out, last) == _fingerprints(db, last)


def test_reload_floor_repairs_the_damaged_copy(
    run: tuple[Path, Path, Manifest], tmp_path: Path
) -> None:
    db, store, last = run
    year_tables = [t.name for t in last.tables if t.year_column]
    damaged = tmp_path / "damaged.duckdb"
    bench.damaged_copy(db, damaged, year_tables)
    want = _fingerprints(db, last)
    assert _fingerprints(damaged, last) != want  # the damage is real
    bench.reload_floor(store, last, damaged)
    assert _fingerprints(damaged, last) == want


def test_the_search_floor_finds_the_damage_and_repairs_it(
    run: tuple[Path, Path, Manifest], tmp_path: Path
) -> None:
    """Not told which partitions are damaged, the search floor finds exactly the 2027
    partitions the damage thinned (and no other), then reloads them."""
    db, store, last = run
    year_tables = [t.name for t in last.tables if t.year_column]
    damaged = tmp_path / "damaged.duckdb"
    bench.damaged_copy(db, damaged, year_tables)
    con = duckdb.connect(str(damaged), read_only=True)
    try:
        found = bench.found_damage(con, last)
    finally:
        con.close()
    want, got = _fingerprints(db, last), _fingerprints(damaged, last)
    want_tables = {name for name, fps in got.items() if fps != want[name]}
    assert want_tables  # the damage is real
    assert {(e.name, str(k)) for e, k in found} == {(t, "2027") for t in want_tables}
    bench.reload_floor(store, last, damaged, search=True)
    assert _fingerprints(damaged, last) == want


def test_the_run_floor_counts_a_copy_of_every_years_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's floor adds the CPU of COPYing each year's rows of every year table: the
    export no snapshot can skip, for every year the run snapshots."""
    copied: list[tuple[tuple[str, ...], int, int]] = []
    copy_rows = bench.copy_rows

    def recording(
        con: duckdb.DuckDBPyConnection, tables: list[str], out: Path, *, year: int
    ) -> float:
        rows = 0
        for t in tables:
            row = con.execute(
                f'SELECT count(*) FROM "{t}" WHERE simulation_year = ?', [year]
            ).fetchone()
            assert row is not None
            rows += row[0]
        copied.append((tuple(tables), year, rows))
        return copy_rows(con, tables, out, year=year)

    monkeypatch.setattr(bench, "copy_rows", recording)
    run, floor, _lean = bench.bench_run(300, 1, tmp_path, lambda _msg: None)
    years = list(range(bench.YEARS[0], bench.YEARS[1] + 1))
    assert [year for _t, year, _n in copied] == years
    want = ("fct_workforce_snapshot", "fct_yearly_events", "int_employee_contributions")
    assert all(tables == want and rows > 0 for tables, _y, rows in copied)
    assert floor.base == run.base and len(floor.ours) == 1
    assert not list(tmp_path.glob("*.duckdb")), "the runs' files are dropped"
