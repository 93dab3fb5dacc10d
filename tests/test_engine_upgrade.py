"""Fingerprints survive engine upgrades: a snapshot written by another DuckDB is checked at
full strength, against its own Parquet fingerprinted under the running engine.

DuckDB's ``hash()`` changed between releases, so the manifest's fingerprints compare with
ones computed here only by row count; the restore check therefore fingerprints the
snapshot's verified Parquet objects (read as the tables, text-encoded columns cast back) and
the restored tables with one engine, and compares those.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import navsnap
from navsnap import materialize
from navsnap.compare import full_strength
from navsnap.errors import RestoreError
from navsnap.index import resolve
from navsnap.manifest import Manifest
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


@pytest.fixture
def old_snapshot(tmp_path: Path) -> tuple[Path, Manifest]:
    """A snapshot written by navsnap under DuckDB 1.1.3 (store, manifest)."""
    path = ROOT / ".ci-cache" / f"duckdb-{OLD}"
    if not (path / "duckdb").is_dir():
        pytest.skip(f"duckdb {OLD} not installed in {path} (.ci/run installs it)")
    env = {**os.environ, "PYTHONPATH": str(path)}
    res = subprocess.run(
        [sys.executable, "-c", WRITE, str(tmp_path), OLD],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == [OLD]
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

    def load(con: duckdb.DuckDBPyConnection, target_ref: str, files: list[str]) -> None:
        real(con, target_ref, files)
        if target_ref.endswith('"facts"'):
            # one value changes on the way in; the row count stays the same
            con.execute(f"UPDATE {target_ref} SET {column} = {column} + 1 WHERE id = 7")

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
