"""A restored database matches its own snapshot, so the next restore or resume is a delta.

Restore writes view and macro SQL byte for byte as the snapshot recorded it, and rewrites
names of the original catalog only when the restored file is opened under another catalog
name (``--to`` a file with another stem); the delta planner compares a live database with the
snapshot's DDL as a restore under the live catalog name would create it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

import navsnap
from navsnap.config import Config
from navsnap.index import resolve
from navsnap.restore.plan import plan_restore
from navsnap.store import open_store

ROOT = Path(__file__).resolve().parent.parent


def old_duckdb(version: str) -> Path:
    path = ROOT / ".ci-cache" / f"duckdb-{version}"
    if not (path / "duckdb").is_dir():
        pytest.skip(f"duckdb {version} not installed in {path} (.ci/run installs it)")
    return path


def view_sql(db: Path) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal AND NOT temporary"
        ).fetchall()
    finally:
        con.close()
    return {str(n): str(s) for n, s in rows}


def test_builtin_simulation_matches_its_snapshot_after_a_full_restore(
    tmp_path: Path, sim_config: Callable[..., Config]
) -> None:
    db = tmp_path / "simulation.duckdb"
    navsnap.run(sim_config(200), db=db, years=(2025, 2026), store=str(tmp_path / "store"))
    before = view_sql(db)
    db.write_bytes(b"not a database" * 100)
    report = navsnap.restore(store=tmp_path / "store", db=db, year=2026)
    assert report.plan.strategy == "full"
    assert view_sql(db) == before
    store = open_store(tmp_path / "store")
    again = plan_restore(store, resolve(store, year=2026), db_path=db)
    assert again.strategy == "none", again.reason
    # back one year: only the 2026 partitions go, nothing is rebuilt
    back = plan_restore(store, resolve(store, year=2025), db_path=db)
    assert back.strategy == "delta", back.reason


# Run by the DuckDB under test: before 2.0, DuckDB keeps a view's catalog name in its SQL
# (2.0 drops the name of the catalog the view is created in), so this is where a rewrite
# in place, or a planner blind to the catalog name, would show.
SCRIPT = """
import sys
from pathlib import Path
import duckdb, navsnap
from navsnap.index import resolve
from navsnap.restore.plan import plan_restore
from navsnap.store import open_store

tmp = Path(sys.argv[1])
db = tmp / "model.duckdb"
con = duckdb.connect(str(db))
con.execute("CREATE TABLE t (simulation_year INTEGER, v INTEGER)")
con.execute("INSERT INTO t VALUES (2025, 1), (2025, 2)")
con.execute("CREATE VIEW v AS SELECT * FROM model.main.t")
con.execute("CREATE MACRO total() AS TABLE SELECT sum(v) AS s FROM model.main.t")
con.close()
cfg = navsnap.load_config(search_cwd=False)
navsnap.checkpoint(db=db, year=2025, store=tmp / "store", config=cfg)
store = open_store(tmp / "store")
m = resolve(store, year=2025)

def sql(path):
    c = duckdb.connect(str(path), read_only=True)
    out = c.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'v'").fetchall()[0][0]
    rows = c.execute("SELECT * FROM v ORDER BY v").fetchall()
    total = c.execute("FROM total()").fetchall()
    c.close()
    return out, rows, total

print("recorded", [d.sql for d in m.ddl if d.kind == "view"][0])
print("original", sql(db)[0])
db.write_bytes(b"junk" * 1000)
print("restore", navsnap.restore(store=store, db=db, year=2025).plan.strategy)
print("in-place", *sql(db))
print("plan-in-place", plan_restore(store, m, db_path=db).strategy)
other = tmp / "fixture.duckdb"
navsnap.restore(store=store, db=db, year=2025, to=other)
print("to-other", *sql(other))
print("plan-other", plan_restore(store, m, db_path=other).strategy)
"""


@pytest.mark.parametrize("version", ["1.1.3", duckdb.__version__])
def test_view_naming_the_catalog_matches_its_snapshot_after_restore(
    tmp_path: Path, version: str
) -> None:
    env = dict(os.environ)
    if version != duckdb.__version__:
        env["PYTHONPATH"] = str(old_duckdb(version))
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    out = dict(line.split(" ", 1) for line in res.stdout.splitlines())
    data = "[(2025, 1), (2025, 2)] [(3,)]"
    assert out["restore"] == "full"
    # in place: the view's SQL is byte for byte the original, and matches the snapshot
    assert out["in-place"].startswith(out["original"] + " ") and out["in-place"].endswith(data)
    assert out["plan-in-place"] == "none"
    # under another catalog name: rewritten so it works, and still matches the snapshot
    assert out["to-other"].endswith(data)
    assert out["plan-other"] == "none"
    if version == "1.1.3":
        assert "model.main.t" in out["recorded"] and "model." not in out["to-other"]
