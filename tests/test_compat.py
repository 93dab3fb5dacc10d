"""navsnap on the user's DuckDB: every release from 1.0.0 through 2.x.

navsnap runs inside the pipeline's environment, so the file a restore writes is written by the
pipeline's own engine. These tests run navsnap itself under old releases (installed by
``.ci/run`` into ``.ci-cache/duckdb-X``, put first on PYTHONPATH) and open what it wrote with
that release; a snapshot taken with a newer engine is refused before anything changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import SUPPORT, invoke_at, table_fingerprints, tree_bytes

import navsnap
from navsnap import engine
from navsnap.errors import EngineVersionError

ROOT = Path(__file__).resolve().parent.parent
OLD = ("1.0.0", "1.1.3", "1.4.5", "1.5.6")


def old_duckdb(version: str) -> Path:
    path = ROOT / ".ci-cache" / f"duckdb-{version}"
    if not (path / "duckdb").is_dir():
        pytest.skip(f"duckdb {version} not installed in {path} (.ci/run installs it)")
    return path


def under(version: str) -> dict[str, str]:
    """Environment whose ``import duckdb`` is ``version``; navsnap is this checkout's."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(old_duckdb(version)), str(SUPPORT)])}


def python_under(version: str, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    code = f"import duckdb; assert duckdb.__version__ == {version!r}, duckdb.__version__\n{code}"
    return subprocess.run(
        [sys.executable, "-c", code], env=under(version), capture_output=True, text=True, cwd=cwd
    )


def navsnap_under(version: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "navsnap", *args],
        env=under(version),
        capture_output=True,
        text=True,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


KEYED = "CREATE TABLE t (simulation_year INTEGER PRIMARY KEY, v VARCHAR NOT NULL UNIQUE)"
PLAIN = "CREATE TABLE t (simulation_year INTEGER NOT NULL, v VARCHAR NOT NULL)"
WRITE = (
    "import sys; c = duckdb.connect(sys.argv[1] if len(sys.argv) > 1 else 'db.duckdb');"
    "c.execute(open('ddl.sql').read());"
    "c.execute(\"INSERT INTO t VALUES (2025, 'a'), (2026, 'b')\");"
    "c.execute('CREATE VIEW v AS SELECT count(*) AS n FROM t'); c.close()"
)
READ = (
    "c = duckdb.connect('db.duckdb');"
    "print(c.execute('SELECT n FROM v').fetchall(), "
    "c.execute('SELECT v FROM t ORDER BY 1').fetchall())"
)


@pytest.mark.parametrize("ddl", [KEYED, PLAIN], ids=["keyed", "plain"])
@pytest.mark.parametrize("version", OLD)
def test_navsnap_on_an_old_engine_restores_a_file_that_engine_opens(
    tmp_path: Path, version: str, ddl: str
) -> None:
    """The pipeline's engine writes, navsnap under it snapshots, the file is lost, navsnap
    restores it: the same engine opens the restored file (PRIMARY KEY/UNIQUE included)."""
    (tmp_path / "ddl.sql").write_text(ddl)
    res = python_under(version, WRITE, tmp_path)
    assert res.returncode == 0, res.stderr
    where = ("--db", "db.duckdb", "--store", "snaps")
    res = navsnap_under(version, "checkpoint", "--year", "2026", "--step", "etl", *where,
                        cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    (tmp_path / "db.duckdb").write_bytes(b"\0corrupt" * 4096)
    res = navsnap_under(version, "restore", "--year", "2026", *where, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    res = python_under(version, READ, tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[(2,)] [('a',), ('b',)]"


@pytest.mark.parametrize("ddl", [KEYED, PLAIN], ids=["keyed", "plain"])
def test_a_newer_engine_restores_a_file_for_itself(tmp_path: Path, ddl: str) -> None:
    """Restored under the running engine, a 1.0.0 snapshot opens in the running engine; it
    keeps 1.0 storage, which 1.0.0 opens unless a table has PRIMARY KEY/UNIQUE and the running
    engine is 1.5 or newer (docs: run navsnap in the pipeline's environment)."""
    oldest = OLD[0]
    (tmp_path / "ddl.sql").write_text(ddl)
    res = python_under(oldest, WRITE, tmp_path)
    assert res.returncode == 0, res.stderr
    cfg = navsnap.load_config(search_cwd=False)
    db = tmp_path / "db.duckdb"
    navsnap.checkpoint(db=db, year=2026, store=tmp_path / "s", config=cfg)
    before = table_fingerprints(db)
    db.write_bytes(b"\0corrupt" * 4096)
    navsnap.restore(store=tmp_path / "s", db=db, year=2026)
    assert table_fingerprints(db) == before
    res = python_under(oldest, READ, tmp_path)
    if ddl == KEYED and engine.RUNNING >= (1, 5, 0):
        assert res.returncode != 0 and "Failed to deserialize" in res.stderr, res.stderr
    else:
        assert res.returncode == 0, res.stderr


def older_than_running() -> str:
    """An installed old release of an earlier major.minor than the running engine."""
    for version in OLD:
        parsed = engine.parse_version(version)
        assert parsed is not None
        if parsed[:2] < engine.RUNNING[:2] and (ROOT / ".ci-cache" / f"duckdb-{version}").is_dir():
            return version
    pytest.skip("no installed DuckDB release older than the running one")


def test_snapshot_of_a_newer_engine_is_refused_naming_what_to_install(tmp_path: Path) -> None:
    old = older_than_running()
    (tmp_path / "ddl.sql").write_text(PLAIN)
    res = python_under(old, WRITE, tmp_path)  # a file every engine opens
    assert res.returncode == 0, res.stderr
    where = ("--db", "db.duckdb", "--store", "snaps")
    # the running engine; --step names what built the database (it has no snapshot yet)
    res = invoke_at("checkpoint", "--year", "2026", "--step", "etl", *where, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (tmp_path / "db.duckdb").write_bytes(b"\0corrupt" * 4096)
    before = {k: v for k, v in tree_bytes(tmp_path).items() if not k.endswith(".lock.json")}

    res = navsnap_under(old, "restore", "--year", "2026", *where, cwd=tmp_path)

    assert res.returncode == EngineVersionError.exit_code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert f"taken with DuckDB {engine.VERSION}" in lines[0]
    assert f"{sys.executable} -m pip install 'duckdb=={engine.VERSION}'" in lines[0]
    after = {k: v for k, v in tree_bytes(tmp_path).items() if not k.endswith(".lock.json")}
    assert after == before


def test_attach_output_opens_in_the_oldest_release(tmp_path: Path) -> None:
    oldest = old_duckdb(OLD[0]).name.removeprefix("duckdb-")
    (tmp_path / "ddl.sql").write_text(KEYED)
    res = python_under(oldest, WRITE, tmp_path)
    assert res.returncode == 0, res.stderr
    cfg = navsnap.load_config(search_cwd=False)
    m = navsnap.checkpoint(db=tmp_path / "db.duckdb", year=2026, store=tmp_path / "s", config=cfg)
    out = tmp_path / "attach.duckdb"
    navsnap.attach(tmp_path / "s", m.snapshot_id, out=out)
    res = python_under(
        oldest,
        f"c = duckdb.connect({str(out)!r}, read_only=True);"
        "print(c.execute('SELECT count(*), min(v) FROM t').fetchall())",
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[(2, 'a')]"


#: A database with a table, a view and a macro, written by the oldest release.
_WITH_MACRO = (
    "c = duckdb.connect('db.duckdb');"
    'c.execute("CREATE TABLE t (simulation_year INTEGER NOT NULL, v VARCHAR NOT NULL)");'
    "c.execute(\"INSERT INTO t VALUES (2025, 'a'), (2026, 'b')\");"
    "c.execute('CREATE MACRO twice(x) AS x * 2');"
    "c.execute('CREATE VIEW v AS SELECT twice(count(*)) AS n FROM t'); c.close()"
)
_READ_ATTACHED = """
import sys
c = duckdb.connect(sys.argv[1], read_only=True)
here = "database_name = current_database() AND NOT internal"
views = c.execute(f"SELECT view_name FROM duckdb_views() WHERE {here}").fetchall()
print(
    sorted(r[0] for r in views),
    sorted(r[0] for r in c.execute(
        f"SELECT function_name FROM duckdb_functions() WHERE {here} AND function_type = 'macro'"
    ).fetchall()),
    c.execute("SELECT n FROM v").fetchall(),
    c.execute("SELECT twice(count(*)) FROM t").fetchall(),
    c.execute("SELECT year FROM navsnap_info").fetchall(),
)
"""


@pytest.mark.parametrize("writer", ["running", *OLD])
def test_attach_file_holds_views_and_macros_the_oldest_release_opens(
    tmp_path: Path, writer: str
) -> None:
    """attach's views file, written by navsnap under each release (the running one, and the
    old ones, where ATTACH takes no STORAGE_VERSION before 1.2), opens in the oldest release
    with every table view, the snapshot's own view and macro, and navsnap_info."""
    oldest = old_duckdb(OLD[0]).name.removeprefix("duckdb-")
    res = python_under(oldest, _WITH_MACRO, tmp_path)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "attach.duckdb"
    if writer == "running":
        cfg = navsnap.load_config(search_cwd=False)
        m = navsnap.checkpoint(db=tmp_path / "db.duckdb", year=2026, store=tmp_path / "s",
                               config=cfg)  # fmt: skip
        navsnap.attach(tmp_path / "s", m.snapshot_id, out=out)
    else:
        where = ("--db", "db.duckdb", "--store", "s")
        res = navsnap_under(writer, "checkpoint", "--year", "2026", "--step", "etl", *where,
                            cwd=tmp_path)  # fmt: skip
        assert res.returncode == 0, res.stderr
        res = navsnap_under(writer, "attach", "latest", "--out", str(out), *where, cwd=tmp_path)
        assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [sys.executable, "-c", f"import duckdb\n{_READ_ATTACHED}", str(out)],
        env=under(oldest),
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "['t', 'v'] ['twice'] [(4,)] [(4,)] [(2026,)]"


@pytest.mark.skipif(not engine.ATTACH_STORAGE_VERSION, reason="ATTACH has no STORAGE_VERSION")
def test_restore_keeps_the_original_storage_version(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    con = duckdb.connect()
    con.execute(f"ATTACH '{db}' AS src (STORAGE_VERSION 'v1.0.0')")
    con.execute("CREATE TABLE src.t (simulation_year INTEGER NOT NULL, v DECIMAL(10,2))")
    con.execute("INSERT INTO src.t SELECT 2025 + i % 2, i / 4 FROM range(1000) r(i)")
    con.execute("CREATE VIEW src.v AS SELECT simulation_year, sum(v) AS s FROM src.t GROUP BY 1")
    con.execute("DETACH src")
    con.close()
    cfg = navsnap.load_config(search_cwd=False)
    m = navsnap.checkpoint(db=db, year=2026, store=tmp_path / "store", config=cfg)
    assert m.storage_version == "v1.0.0"
    out = tmp_path / "restored.duckdb"
    navsnap.restore(store=tmp_path / "store", db=db, year=2026, to=out)
    con = duckdb.connect(str(out), read_only=True)
    row = con.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() "
        "WHERE database_name = current_database()"
    ).fetchone()
    con.close()
    assert row is not None and engine.storage_tag(row[0]) == "v1.0.0"
    assert table_fingerprints(out) == table_fingerprints(db)


@dataclass(frozen=True)
class Taken:
    snapshot_id: str
    duckdb_version: str
    storage_version: str | None


def refused(duckdb_version: str, storage_version: str | None = None) -> bool:
    try:
        engine.check_restorable(Taken("s-2026", duckdb_version, storage_version))
    except EngineVersionError:
        return True
    return False


def test_only_a_newer_release_or_storage_is_refused() -> None:
    major, minor, patch = engine.RUNNING
    assert not refused(engine.VERSION, None)
    assert not refused("1.0.0", "v1.0.0")
    assert not refused(f"{major}.{minor}.{patch + 1}")  # a patch release writes the same files
    assert refused(f"{major}.{minor + 1}.0")
    assert refused(f"{major + 1}.0.0")
    assert refused(engine.VERSION, f"v{major}.{minor + 1}.0")
    assert not refused("not a version", "nor this")  # nothing known to refuse on


def test_storage_tags_of_every_release_and_no_sql_from_the_manifest() -> None:
    assert engine.storage_tag("v1.0.0+") == "v1.0.0"  # 1.3 and later
    assert engine.storage_tag("v1.0.0 - v1.1.3") == "v1.0.0"  # 1.2
    assert engine.storage_tag(["v2.0.0+"]) == "v2.0.0"
    assert engine.storage_tag([]) is None and engine.storage_tag(None) is None
    assert engine.restore_storage(None, "1.1.3") == "v1.0.0"  # 1.0 and 1.1 record none
    assert engine.restore_storage(None, "2.0.1") is None
    options = engine.attach_options("v1.0.0'); DROP TABLE x; --")
    assert "DROP" not in options
    assert options in ("", " (STORAGE_VERSION 'v1.0.0')")
