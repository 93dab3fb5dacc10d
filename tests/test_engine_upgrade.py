"""Fingerprints survive engine upgrades: a snapshot written by another DuckDB is checked at
full strength, against its own Parquet fingerprinted under the running engine.

DuckDB's ``hash()`` changed between releases, so the manifest's fingerprints compare with
ones computed here only by row count; the restore check therefore fingerprints the
snapshot's verified Parquet objects (read as the tables, text-encoded columns cast back) and
the restored tables with one engine, and compares those.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import invoke

import navsnap
from navsnap import engine, materialize
from navsnap.catalog import TableInfo
from navsnap.compare import aggregate_mismatches, full_strength
from navsnap.errors import RestoreError
from navsnap.index import resolve
from navsnap.manifest import Fingerprint, Manifest, PartitionKey, TableEntry
from navsnap.restore import check as restore_check
from navsnap.restore.plan import plan_restore
from navsnap.store import open_store

ROOT = Path(__file__).resolve().parent.parent
OLD = "1.1.3"

# Run under DuckDB 1.1.3: navsnap itself writes the snapshot, so its fingerprints are 1.1.3's.
WRITE = """
import sys
from pathlib import Path
import duckdb, navsnap
assert duckdb.__version__ == sys.argv[2], duckdb.__version__
tmp = Path(sys.argv[1])
db = tmp / "old.duckdb"
con = duckdb.connect(str(db))
con.execute(
    "CREATE TABLE facts (simulation_year INTEGER NOT NULL, id INTEGER PRIMARY KEY, "
    "amount DECIMAL(18, 2), big HUGEINT, span INTERVAL, label VARCHAR, tags VARCHAR[])"
)
con.execute(
    "INSERT INTO facts SELECT 2025 + i % 2, i, i / 7, (2::HUGEINT ** 100)::HUGEINT + i, "
    "INTERVAL (i) MICROSECONDS, 'row ' || i, ['a', NULL, i::VARCHAR] FROM range(500) r(i)"
)
con.execute("CREATE TABLE settings (k VARCHAR, v INTEGER)")
con.execute("INSERT INTO settings VALUES ('x', 1), ('y', 2)")
con.close()
cfg = navsnap.load_config(search_cwd=False)
m = navsnap.checkpoint(db=db, year=2026, store=tmp / "store", config=cfg)
print(m.duckdb_version)
"""


@pytest.fixture(scope="module")
def old_golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of a snapshot written once by navsnap under DuckDB 1.1.3."""
    path = ROOT / ".ci-cache" / f"duckdb-{OLD}"
    if not (path / "duckdb").is_dir():
        pytest.skip(f"duckdb {OLD} not installed in {path} (.ci/run installs it)")
    folder = tmp_path_factory.mktemp("old-engine")
    env = {**os.environ, "PYTHONPATH": str(path)}
    res = subprocess.run(
        [sys.executable, "-c", WRITE, str(folder), OLD],
        env=env,
        capture_output=True,
        text=True,
        cwd=folder,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [OLD]
    return folder


@pytest.fixture
def old_snapshot(old_golden: Path, tmp_path: Path) -> tuple[Path, Manifest]:
    """A copy of that snapshot and its database for this test (store, manifest)."""
    shutil.copytree(old_golden, tmp_path, dirs_exist_ok=True)
    store = open_store(tmp_path / "store")
    manifest = resolve(store, year=2026)
    assert manifest.duckdb_version == OLD and not full_strength(manifest)
    return tmp_path / "store", manifest


def table_rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_snapshot_of_another_engine_restores_and_checks_out(
    tmp_path: Path, old_snapshot: tuple[Path, Manifest]
) -> None:
    store, _manifest = old_snapshot
    out = tmp_path / "restored.duckdb"
    report = navsnap.restore(store=store, db=tmp_path / "old.duckdb", year=2026, to=out)
    assert report.plan.strategy == "full"
    got = table_rows(out, "SELECT count(*), sum(big), max(span), count(DISTINCT tags) FROM facts")
    want = table_rows(
        tmp_path / "old.duckdb",
        "SELECT count(*), sum(big), max(span), count(DISTINCT tags) FROM facts",
    )
    assert got == want


def _corrupting_load(column: str) -> object:
    real = materialize.load_parquet

    def load(con: duckdb.DuckDBPyConnection, table: TableInfo, files: list[str]) -> None:
        real(con, table, files)
        if table.name == "facts":
            # one value changes on the way in; the row count stays the same
            con.execute(f"UPDATE {table.ref} SET {column} = {column} + 1 WHERE id = 7")

    return load


@pytest.mark.parametrize("column", ["amount", "big"])
def test_a_value_corrupted_on_restore_is_caught_under_another_engine(
    tmp_path: Path,
    old_snapshot: tuple[Path, Manifest],
    monkeypatch: pytest.MonkeyPatch,
    column: str,
) -> None:
    store, _manifest = old_snapshot
    monkeypatch.setattr(materialize, "load_parquet", _corrupting_load(column))
    out = tmp_path / "restored.duckdb"
    with pytest.raises(RestoreError, match="restored table facts does not match") as info:
        navsnap.restore(store=store, db=tmp_path / "old.duckdb", year=2026, to=out)
    assert "facts 2026" in info.value.one_line()
    assert not out.exists()


# --------------------------------------------------------------------------- hash families
#
# The tests below need no other DuckDB: a manifest is forged to say it was written by another
# release (and, for another hash family, its fingerprints are garbled, as another family's
# would be), then re-sealed as any writer can. They run in the core suite.

#: hash() of 42, 'abc', [1, 2] and an INTERVAL as measured under each family (1.2 not
#: measured here). 2.0 hashes the first three as 1.4 does, not the interval.
MEASURED_HASHES = {
    "1.0": (7199933130570745587, 14846292297954449589, 9505922914455077890, 9268954875768820221),
    "1.4": (7199933130570745587, 1924864467101078684, 6530802887144669425, 9268954875768820221),
    "2.0": (7199933130570745587, 1924864467101078684, 6530802887144669425, 18018802399226074402),
}


@pytest.mark.core
def test_hash_families_are_what_the_running_engine_computes() -> None:
    assert engine.hash_family("1.0.0") == engine.hash_family("1.1.3") == "1.0"
    assert engine.hash_family("1.2.2") == engine.hash_family("1.3.2") == "1.2"
    assert engine.hash_family("1.4.5") == engine.hash_family("1.5.6") == "1.4"
    assert engine.hash_family("2.0.1") == "2.0"
    assert engine.hash_family("2.1.0") == "2.1"  # not measured: a family of its own
    assert engine.hash_family("not a version") is None
    assert not engine.same_hash("garbage")
    family = engine.hash_family(engine.VERSION)
    if family not in MEASURED_HASHES:
        pytest.skip(f"no recorded hash() values for DuckDB {engine.VERSION}")
    got = (
        duckdb.connect()
        .execute(
            "SELECT hash(42), hash('abc'), hash([1, 2]), "
            "hash(to_months(-3) + to_days(5) + to_microseconds(-7))"
        )
        .fetchone()
    )
    assert got == MEASURED_HASHES[family]


def other_release(*, same_hash: bool) -> str:
    """A DuckDB release that hashes like the running one (``same_hash``) or not."""
    major, minor, patch = engine.RUNNING
    if same_hash:
        return f"{major}.{minor}.{patch + 1}"
    return next(v for v in ("1.1.3", "1.4.5") if not engine.same_hash(v))


def newer_than_running(version: str) -> bool:
    """Whether the release ``version`` is newer than the running DuckDB."""
    parsed = engine.parse_version(version)
    assert parsed is not None, version
    return parsed > engine.RUNNING


def forge(store: Path, manifest: Manifest, **changes: object) -> Manifest:
    """Write ``manifest`` with ``changes`` over the stored one, re-sealed."""
    forged = replace(manifest, **changes)  # type: ignore[arg-type]
    (store / "manifests" / f"{manifest.snapshot_id}.json").write_bytes(forged.to_json())
    return resolve(open_store(store), forged.snapshot_id)


def garbled(manifest: Manifest) -> tuple[TableEntry, ...]:
    """The tables with every fingerprint's hash replaced (row counts kept)."""
    return tuple(
        replace(
            t,
            partitions=tuple(
                replace(p, fingerprint=Fingerprint(p.fingerprint.rows, "12345"))
                for p in t.partitions
            ),
        )
        for t in manifest.tables
    )


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path, Manifest]:
    """(database, store, manifest): two years of a small table and a global one."""
    db = tmp_path / "small.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE facts AS SELECT 2025 + i % 2 AS simulation_year, i AS id, "
        "i * 1.5 AS amount, 'row ' || i AS label FROM range(200) r(i)"
    )
    con.execute("CREATE TABLE settings AS SELECT 'k' || i AS k, i AS v FROM range(5) r(i)")
    con.close()
    cfg = navsnap.load_config(search_cwd=False)
    manifest = navsnap.checkpoint(db=db, year=2026, store=tmp_path / "store", config=cfg)
    return db, tmp_path / "store", manifest


def change_one_value(db: Path) -> None:
    con = duckdb.connect(str(db))
    con.execute("UPDATE facts SET amount = amount + 1 WHERE id = 8")  # a 2025 row
    con.close()


@pytest.mark.core
def test_delta_planner_compares_with_the_parquet_under_another_hash_family(
    small: tuple[Path, Path, Manifest],
) -> None:
    db, store, manifest = small
    other = other_release(same_hash=False)
    forged = forge(store, manifest, duckdb_version=other, tables=garbled(manifest))
    assert not full_strength(forged)
    st = open_store(store)
    # The database as snapshotted: nothing to do, although no fingerprint compares.
    assert plan_restore(st, forged, db_path=db).strategy == "none"
    change_one_value(db)  # same row counts, one value differs
    plan = plan_restore(st, forged, db_path=db)
    assert plan.strategy == "delta", plan.reason
    assert {(a.table, str(a.year)) for a in plan.actions if a.action == "load"} == {
        ("facts", "2025")
    }
    # verify --deep has nothing to recompute another family's fingerprints from, and says so
    code, out, err = invoke("verify", "--store", str(store), "--deep", "--json", forged.snapshot_id)
    assert code == 0, err
    assert json.loads(out)["counts_only"] == [forged.snapshot_id]
    code, out, err = invoke("verify", "--store", str(store), "--deep", forged.snapshot_id)
    assert code == 0 and "compared by row counts, not fingerprints" in out, err
    if newer_than_running(other):
        return  # a newer release's snapshot is planned, never restored (EngineVersionError)
    report = navsnap.restore(store=store, db=db, snapshot=forged.snapshot_id)
    assert report.plan.strategy == "delta"
    assert table_rows(db, "SELECT amount FROM facts WHERE id = 8") == [(Decimal("12.0"),)]
    assert plan_restore(st, forged, db_path=db).strategy == "none"


@pytest.mark.core
def test_verify_deep_and_the_planner_keep_full_strength_within_a_hash_family(
    small: tuple[Path, Path, Manifest],
) -> None:
    db, store, manifest = small
    change_one_value(db)
    cfg = navsnap.load_config(search_cwd=False)
    changed = navsnap.checkpoint(db=db, year=2026, store=store, config=cfg)
    new_2025 = changed.table("facts").partition(PartitionKey.of_year("2025"))
    assert new_2025 is not None
    # The first snapshot now points at the object holding the changed value, with the
    # fingerprint of the original rows, and says another release of this hash family wrote it.
    facts = manifest.table("facts")
    swapped = replace(
        facts,
        partitions=tuple(
            replace(p, object=new_2025.object) if str(p.year) == "2025" else p
            for p in facts.partitions
        ),
    )
    tables = tuple(swapped if t.name == "facts" else t for t in manifest.tables)
    forged = forge(store, manifest, duckdb_version=other_release(same_hash=True), tables=tables)
    assert forged.duckdb_version != engine.VERSION and full_strength(forged)
    code, out, err = invoke("verify", "--store", str(store), "--deep", "--json", forged.snapshot_id)
    assert code == 14, err
    found = [p for p in json.loads(out)["problems"] if p["kind"] == "data-mismatch"]
    assert [p["key"] for p in found] == [new_2025.object.key], out
    assert "facts 2025" in found[0]["detail"]
    assert json.loads(out)["counts_only"] == []
    # The live database holds the changed value: the planner sees it, by fingerprint.
    plan = plan_restore(open_store(store), forged, db_path=db)
    assert {(a.table, str(a.year)) for a in plan.actions if a.action == "load"} == {
        ("facts", "2025")
    }


@pytest.mark.core
def test_a_full_restore_recomputes_the_aggregates_only_where_fingerprints_cannot_prove_them(
    small: tuple[Path, Path, Manifest], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At full strength every restored partition matched the fingerprint of the rows the
    snapshot's aggregates were computed from, so they are not recomputed (as after a delta);
    under another hash family the tables are compared with the Parquet, and the aggregates
    are recomputed against the manifest."""
    db, store, manifest = small
    recomputed: list[str] = []
    real = aggregate_mismatches  # what restore_check calls until patched below

    def counting(con: duckdb.DuckDBPyConnection, m: Manifest, **kw: Any) -> Any:
        recomputed.append(m.duckdb_version)
        return real(con, m, **kw)

    monkeypatch.setattr(restore_check, "aggregate_mismatches", counting)
    report = navsnap.restore(store=store, db=db, snapshot=manifest.snapshot_id, to=tmp_path / "a")
    assert report.plan.strategy == "full" and recomputed == []
    other = other_release(same_hash=False)
    if newer_than_running(other):
        pytest.skip(f"DuckDB {other}'s snapshot is never restored by {engine.VERSION}")
    forged = forge(store, manifest, duckdb_version=other, tables=garbled(manifest))
    report = navsnap.restore(store=store, db=db, snapshot=forged.snapshot_id, to=tmp_path / "b")
    assert report.plan.strategy == "full" and recomputed == [other]
