"""A database restored by navsnap opens in the DuckDB release that wrote the original."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import table_fingerprints

import navsnap

ROOT = Path(__file__).resolve().parent.parent


def make_old_format_db(path: Path) -> None:
    con = duckdb.connect()
    con.execute(f"ATTACH '{path}' AS src (STORAGE_VERSION 'v1.0.0')")
    con.execute("CREATE TABLE src.t (simulation_year INTEGER NOT NULL, v DECIMAL(10,2))")
    con.execute("INSERT INTO src.t SELECT 2025 + i % 2, i / 4 FROM range(1000) r(i)")
    con.execute("CREATE VIEW src.v AS SELECT simulation_year, sum(v) AS s FROM src.t GROUP BY 1")
    con.execute("DETACH src")
    con.close()


def storage_tag(path: Path) -> str:
    con = duckdb.connect(str(path), read_only=True)
    row = con.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() "
        "WHERE database_name = current_database()"
    ).fetchone()
    con.close()
    assert row is not None
    return str(row[0])


def test_restore_keeps_the_original_storage_version(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    make_old_format_db(db)
    cfg = navsnap.load_config(search_cwd=False)
    m = navsnap.checkpoint(db=db, year=2026, store=tmp_path / "store", config=cfg)
    assert m.storage_version == "v1.0.0"
    out = tmp_path / "restored.duckdb"
    navsnap.restore(store=tmp_path / "store", db=db, year=2026, to=out)
    assert storage_tag(out).startswith("v1.0.0")
    assert table_fingerprints(out) == table_fingerprints(db)


def old_duckdb(version: str) -> Path:
    path = ROOT / ".ci-cache" / f"duckdb-{version}"
    if not (path / "duckdb").is_dir():
        pytest.skip(f"duckdb {version} not installed in {path} (.ci/run installs it)")
    return path


def write_with(version: str, db: Path, ddl: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(old_duckdb(version))}
    script = (
        f"import duckdb; assert duckdb.__version__ == {version!r}, duckdb.__version__;"
        f"c = duckdb.connect({str(db)!r});"
        f"c.execute({ddl!r});"
        "c.execute(\"INSERT INTO t VALUES (2025, 'a'), (2026, 'b')\");"
        "c.execute('CREATE VIEW v AS SELECT count(*) AS n FROM t'); c.close()"
    )
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=db.parent)


def read_with(version: str, db: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(old_duckdb(version))}
    check = (
        f"import duckdb; assert duckdb.__version__ == {version!r};"
        f"c = duckdb.connect({str(db)!r});"
        "print(c.execute('SELECT n FROM v').fetchall(), "
        "c.execute('SELECT v FROM t ORDER BY 1').fetchall())"
    )
    return subprocess.run(
        [sys.executable, "-c", check], env=env, capture_output=True, text=True, cwd=db.parent
    )


def round_trip(tmp_path: Path, version: str, ddl: str) -> subprocess.CompletedProcess[str]:
    db = tmp_path / f"written_by_{version}.duckdb"
    write_with(version, db, ddl)
    cfg = navsnap.load_config(search_cwd=False)
    navsnap.checkpoint(db=db, year=2026, store=tmp_path / "store", config=cfg)
    out = tmp_path / "restored.duckdb"
    navsnap.restore(store=tmp_path / "store", db=db, year=2026, to=out)
    return read_with(version, out)


KEYED = "CREATE TABLE t (simulation_year INTEGER PRIMARY KEY, v VARCHAR NOT NULL UNIQUE)"
PLAIN = "CREATE TABLE t (simulation_year INTEGER NOT NULL, v VARCHAR NOT NULL)"


def test_file_restored_by_navsnap_opens_in_duckdb_1_1(tmp_path: Path) -> None:
    """1.1.3 is the oldest release navsnap supports for every table kind."""
    res = round_trip(tmp_path, "1.1.3", KEYED)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[(2,)] [('a',), ('b',)]"


def test_file_without_indexes_opens_in_duckdb_1_0(tmp_path: Path) -> None:
    res = round_trip(tmp_path, "1.0.0", PLAIN)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[(2,)] [('a',), ('b',)]"


@pytest.mark.xfail(
    strict=True,
    reason="DuckDB 2.0 writes PRIMARY KEY/UNIQUE indexes with a field DuckDB 1.0.0 cannot "
    "read even under STORAGE_VERSION 'v1.0.0' (docs/runbook.md, compatibility)",
)
def test_file_with_indexes_opens_in_duckdb_1_0(tmp_path: Path) -> None:
    res = round_trip(tmp_path, "1.0.0", KEYED)
    assert res.returncode == 0, res.stderr
