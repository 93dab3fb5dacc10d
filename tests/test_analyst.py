"""navsnap sql / attach, and plain-DuckDB access to a snapshot's Parquet."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from conftest import TOY_STEP, invoke_at, scratch_databases

from navsnap import api
from navsnap.cli import cli
from navsnap.config import Config
from navsnap.errors import IntegrityError, UsageError
from navsnap.runner import run as api_run
from navsnap.store import open_store


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(db, store, newest snapshot id) of a 2-year toy run on local disk."""
    tmp = tmp_path_factory.mktemp("analyst")
    db, store = tmp / "sim.duckdb", tmp / "snaps"
    res = invoke_at("run", "--years", "2025-2026", "--db", str(db), "--store", str(store),
                  "--step", TOY_STEP, cwd=tmp)  # fmt: skip
    assert res.returncode == 0, res.stderr
    snaps, _ = api.list_snapshots(store)
    return db, store, snaps[-1].snapshot_id


def live(db: Path, query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_sql_matches_the_live_database(snap: tuple[Path, Path, str]) -> None:
    db, store, sid = snap
    q = "SELECT simulation_year, count(*), sum(pay) FROM yearly GROUP BY 1 ORDER BY 1"
    assert list(api.sql(store, sid, q).rows) == live(db, q)
    q2 = "SELECT typeof(pay), typeof(salary) FROM yearly, people LIMIT 1"
    assert api.sql(store, sid, q2).rows == (("DECIMAL(14,2)", "DECIMAL(12,2)"),)
    assert api.sql(store, sid, "SELECT count(*) FROM audit.log").rows == ((2,),)
    # the snapshot's own views and macros work over the table views
    q3 = "SELECT * FROM v_pay2 ORDER BY 1"
    assert list(api.sql(store, sid, q3).rows) == live(db, q3)


def test_sql_cli_formats_and_errors(snap: tuple[Path, Path, str]) -> None:
    _, store, sid = snap
    res = invoke_at("sql", sid, "SELECT person_id, note FROM yearly ORDER BY 1, 2 LIMIT 2",
                  "--store", str(store), "--csv", cwd=store.parent)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["person_id,note", "1,y2025", "1,y2026"]
    res = invoke_at("sql", sid, "SELECT count(*) AS n FROM people", "--store", str(store),
                  "--json", cwd=store.parent)  # fmt: skip
    assert json.loads(res.stdout) == [{"n": 200}]
    res = invoke_at("sql", sid, "SELECT * FROM nope", "--store", str(store), cwd=store.parent)
    assert res.returncode == UsageError.exit_code
    assert (
        res.stderr.startswith("navsnap: error: query failed") and len(res.stderr.splitlines()) == 1
    )


def test_attach_file_opens_with_plain_duckdb(snap: tuple[Path, Path, str], tmp_path: Path) -> None:
    db, store, sid = snap
    out = tmp_path / "analysis.duckdb"
    res = invoke_at("attach", sid, "--out", str(out), "--store", str(store), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    # A separate interpreter that never imports navsnap.
    code = (
        "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True);"
        "print(c.execute('SELECT count(*) FROM yearly').fetchone()[0]);"
        "print(c.execute('SELECT snapshot_id FROM navsnap_info').fetchone()[0]);"
        "assert 'navsnap' not in sys.modules"
    )
    got = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == [str(live(db, "SELECT count(*) FROM yearly")[0][0]), sid]
    res = invoke_at("attach", sid, "--out", str(out), "--store", str(store), cwd=tmp_path)
    assert res.returncode != 0 and "already exists" in res.stderr
    res = invoke_at(
        "attach", sid, "--out", str(out), "--force", "--store", str(store), cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr


def doc_sql_blocks() -> list[str]:
    text = (Path(__file__).resolve().parent.parent / "docs" / "analysts.md").read_text()
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


@pytest.mark.skipif(
    tuple(int(x) for x in duckdb.__version__.split(".")[:2]) < (1, 1),
    reason="SET VARIABLE needs DuckDB 1.1 (the doc says so)",
)
def test_documented_plain_duckdb_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim_config: Callable[..., Config]
) -> None:
    """docs/analysts.md, verbatim: the objects' metadata, and table T as of year Y read with
    plain DuckDB over the manifests; the rows are those of the live database at that year."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "simulation.duckdb"
    api_run(sim_config(employees=60), db=db, years="2025-2027")
    truth = live(
        db, "SELECT simulation_year, count(*) FROM fct_workforce_snapshot GROUP BY 1 ORDER BY 1"
    )
    api_run(sim_config(employees=60), db=db, years="2028-2028", resume=True)  # newer years exist
    metadata, as_of = doc_sql_blocks()
    con = duckdb.connect()
    kv = con.execute(metadata).fetchall()
    assert ("navsnap_table", "fct_workforce_snapshot") in {(k, v) for _f, k, v in kv}
    assert ("navsnap_year", "2027") in {(k, v) for _f, k, v in kv}
    *setup, query = [s for s in as_of.split(";\n") if s.strip()]
    for statement in setup:
        con.execute(statement)
    assert con.execute(query).fetchall() == truth


def test_file_mode_snapshot_is_refused(tmp_path: Path) -> None:
    db, store = tmp_path / "sim.duckdb", tmp_path / "snaps"
    res = invoke_at("run", "--years", "2025-2025", "--db", str(db), "--store", str(store),
                  "--step", TOY_STEP, "--mode", "file", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    sid = api.list_snapshots(store)[0][0].snapshot_id
    with pytest.raises(UsageError, match="whole-file copy"):
        api.sql(open_store(store), sid, "SELECT 1")


def test_commands_have_help_with_example() -> None:
    for name in ("sql", "attach"):
        help_text = cli.commands[name].help or ""
        assert "Example:" in help_text and "\b" in help_text


class _Recording:
    """A connection that records the first word of every statement it runs."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.seen: list[str] = []

    def execute(self, sql: str, params: object = None) -> duckdb.DuckDBPyConnection:
        self.seen.append(sql.split()[0].upper())
        return self.con.execute(sql, params)


def test_table_views_commit_once_with_navsnap_info(
    snap: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """In a database file every commit writes and syncs the WAL: the table views and attach's
    navsnap_info are one transaction; only the snapshot's own macros and views, retried one by
    one in dependency order, commit each."""
    from navsnap.analyst import table_files
    from navsnap.index import read_all
    from navsnap.materialize import create_parquet_views

    _, store_path, sid = snap
    store = open_store(store_path)
    (m,) = [m for m in read_all(store)[0] if m.snapshot_id == sid]
    con = duckdb.connect(str(tmp_path / "v.duckdb"))
    try:
        rec = _Recording(con)
        info = ("CREATE TABLE navsnap_info AS SELECT ? AS snapshot_id", [sid])
        names = create_parquet_views(rec, m, table_files(store, m), also=[info])  # type: ignore[arg-type]
        assert names == [t.name for t in m.tables]
        commit = rec.seen.index("COMMIT")
        # (SET autoinstall_known_extensions first: a setting, nothing written)
        assert rec.seen[:2] == ["SET", "BEGIN"] and rec.seen.count("BEGIN") == 1, rec.seen
        schemas = {t.schema for t in m.tables} - {"main"}
        assert rec.seen[2:commit] == ["CREATE"] * (len(m.tables) + len(schemas) + 1), rec.seen
        own = [d for d in m.ddl if d.kind in ("macro", "view")]
        assert own and rec.seen[commit + 1 :] == ["SET"] + ["CREATE"] * len(own), rec.seen
        assert con.execute("SELECT snapshot_id FROM navsnap_info").fetchall() == [(sid,)]
    finally:
        con.close()


def test_a_table_view_that_fails_rolls_back_all_of_them(
    snap: tuple[Path, Path, str], tmp_path: Path
) -> None:
    from navsnap.analyst import table_files
    from navsnap.index import read_all
    from navsnap.materialize import create_parquet_views

    _, store_path, sid = snap
    store = open_store(store_path)
    (m,) = [m for m in read_all(store)[0] if m.snapshot_id == sid]
    files = table_files(store, m)
    last = m.tables[-1].name
    files[last] = [str(tmp_path / "missing.parquet")]
    con = duckdb.connect(str(tmp_path / "v.duckdb"))
    try:
        with pytest.raises(IntegrityError, match=f"table {last} of snapshot {sid} cannot be read"):
            create_parquet_views(con, m, files)
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchone() == (
            0,
        )
    finally:
        con.close()


#: Run by a plain DuckDB that never imports navsnap, on attach's file opened read-write (so
#: nothing else holds it): its views and macros, navsnap_info, and what they answer.
_OPEN_VIEWS_FILE = """
import duckdb, json, sys
c = duckdb.connect(sys.argv[1])
here = "database_name = current_database() AND NOT internal"
def rows(sql):
    return [[str(x) for x in r] for r in c.execute(sql).fetchall()]
print(json.dumps({
    "views": sorted(r[0] for r in rows(f"SELECT view_name FROM duckdb_views() WHERE {here}")),
    "macros": sorted({r[0] for r in rows(
        f"SELECT function_name FROM duckdb_functions() WHERE {here} AND function_type LIKE '%macro'"
    )}),
    "info": rows("SELECT snapshot_id, year FROM navsnap_info"),
    "v_pay2": rows("SELECT * FROM v_pay2 ORDER BY 1"),
    "yearly_pay": rows("SELECT count(*) FROM yearly_pay(2026)"),
    "log": rows("SELECT count(*) FROM audit.log"),
}))
assert "navsnap" not in sys.modules
"""


def test_attach_writes_its_file_on_the_scratch_instance(
    snap: tuple[Path, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over a local store the views file is ATTACHed to the process's scratch DuckDB, not
    opened as a new instance: no duckdb.connect. It holds every table view, the snapshot's
    own views and macros and navsnap_info, in 1.0 storage, and is detached afterwards (a
    plain DuckDB opens it read-write; the scratch instance holds only its own databases)."""
    from navsnap import scratch
    from navsnap.analyst import write_attach_file
    from navsnap.catalog import storage_version
    from navsnap.index import read_all

    db, store_path, sid = snap
    store = open_store(store_path)
    (m,) = [m for m in read_all(store)[0] if m.snapshot_id == sid]
    scratch.cursor().close()  # the instance exists, as once any manifest was read

    def no_new_instance(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        raise AssertionError("attach made a DuckDB instance of its own")

    out = tmp_path / "analysis.duckdb"
    with monkeypatch.context() as patch:
        patch.setattr(duckdb, "connect", no_new_instance)
        report = write_attach_file(store, m, out)
    assert report.source == "views" and set(report.views) == {t.name for t in m.tables}
    assert scratch_databases() == {"memory", "system", "temp"}
    got = subprocess.run([sys.executable, "-c", _OPEN_VIEWS_FILE, str(out)],
                         capture_output=True, text=True)  # fmt: skip
    assert got.returncode == 0, got.stderr
    seen = json.loads(got.stdout)
    assert seen["views"] == sorted({t.table for t in m.tables} | {"v_pay", "v_pay2"})
    assert seen["macros"] == ["bump", "yearly_pay"]
    assert seen["info"] == [[sid, str(m.year)]]
    want = [[str(x) for x in r] for r in live(db, "SELECT * FROM v_pay2 ORDER BY 1")]
    assert seen["v_pay2"] == want
    assert seen["yearly_pay"] == [[str(live(db, "SELECT count(*) FROM yearly_pay(2026)")[0][0])]]
    assert seen["log"] == [["2"]]
    con = duckdb.connect(str(out), read_only=True)
    try:
        assert storage_version(con) in (None, "v1.0.0")  # None: a release without the tag
    finally:
        con.close()


def test_attach_that_fails_leaves_nothing_attached_nor_written(
    snap: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """A table view whose object is gone: IntegrityError naming it, no file, no temporary,
    and the scratch instance holds no database of attach's."""
    import dataclasses

    from navsnap.analyst import write_attach_file
    from navsnap.index import read_all

    _, store_path, sid = snap
    store = open_store(store_path)
    (m,) = [m for m in read_all(store)[0] if m.snapshot_id == sid]
    last = m.tables[-1]
    gone = dataclasses.replace(last.partitions[0].object, key=f"objects/00/{'0' * 32}.parquet")
    part = dataclasses.replace(last.partitions[0], object=gone)
    last = dataclasses.replace(last, partitions=(part,))
    broken = dataclasses.replace(m, tables=(*m.tables[:-1], last))
    out = tmp_path / "analysis.duckdb"
    with pytest.raises(IntegrityError, match=f"object {gone.key} of snapshot {sid} is missing"):
        write_attach_file(store, broken, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    assert scratch_databases() == {"memory", "system", "temp"}


def test_attach_without_a_clone_imports_none_of_the_restore(
    snap: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """Where no clone of a hot copy is made (no hot copy, or ext4), attach writes views and
    needs none of navsnap.restore (its import is a start-up cost of the command)."""
    _, store, sid = snap
    code = (
        "import sys; from navsnap import api;"
        "r = api.attach(sys.argv[1], sys.argv[2], sys.argv[3]);"
        "assert r.source == 'views', r;"
        "print(sorted(k for k in sys.modules if k.startswith('navsnap.restore')))"
    )
    got = subprocess.run([sys.executable, "-c", code, str(store), sid, str(tmp_path / "a.duckdb")],
                         capture_output=True, text=True)  # fmt: skip
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "[]"


def test_a_hostile_manifest_leaves_nothing_in_the_scratch_instance(
    snap: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """A snapshot whose own view and macro name the scratch instance's database (``memory``)
    gets its views file from an instance of its own: nothing it creates outlives the call in
    the process's scratch instance, which the manifest parser shares."""
    import dataclasses

    from navsnap import scratch
    from navsnap.analyst import write_attach_file
    from navsnap.index import read_all
    from navsnap.manifest import DdlEntry

    _, store_path, sid = snap
    store = open_store(store_path)
    (m,) = [m for m in read_all(store)[0] if m.snapshot_id == sid]
    planted = (
        DdlEntry("view", "main", "planted", 'CREATE VIEW "Memory".main.planted AS SELECT 42 AS x'),
        DdlEntry("macro", "main", "planted_m", "CREATE MACRO memory.main.planted_m(a) AS a + 1"),
    )
    hostile = dataclasses.replace(m, ddl=(*m.ddl, *planted))
    report = write_attach_file(store, hostile, tmp_path / "analysis.duckdb")
    assert report.source == "views"
    con = scratch.cursor()
    try:
        views = con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = 'planted'"
        ).fetchall()
        macros = con.execute(
            "SELECT count(*) FROM duckdb_functions() WHERE function_name = 'planted_m'"
        ).fetchall()
    finally:
        con.close()
    assert views == [(0,)] and macros == [(0,)]


# --------------------------------------------------------------------------- damaged store content


def _copy(snap: tuple[Path, Path, str], tmp_path: Path) -> tuple[Path, str, Path]:
    """(store, snapshot id, the file of table people's object) of a copy of the snapshot's
    store, to damage."""
    import shutil

    from navsnap.index import read_all

    _, src, sid = snap
    store = tmp_path / "store"
    shutil.copytree(src, store)
    (m,) = [m for m in read_all(open_store(store))[0] if m.snapshot_id == sid]
    (people,) = [t for t in m.tables if t.name == "people"]
    return store, sid, store / people.partitions[0].object.key


def _garbage(path: Path, size: int) -> None:
    path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))


def _reseal_with_a_column_too_many(store: Path, sid: str) -> None:
    """Table people's manifest entry names a column its Parquet lacks, and the manifest's
    integrity hash is recomputed (what someone editing the store could leave)."""
    from navsnap.hashing import hash_bytes
    from navsnap.manifest import canonical_json

    path = store / "manifests" / f"{sid}.json"
    doc = json.loads(path.read_text())
    (people,) = [t for t in doc["tables"] if t["name"] == "people"]
    people["columns"].append(["ghost", "INTEGER", False])
    doc.pop("integrity")
    doc["integrity"] = hash_bytes(canonical_json(doc))
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))


_DAMAGE: dict[str, tuple[Callable[[Path, Path, str], object], str]] = {
    "missing": (lambda obj, store, sid: obj.unlink(), "is missing"),
    "truncated": (lambda obj, store, sid: _garbage(obj, 100), "is corrupt (size 100, expected"),
    # Same size: only the hash tells; DuckDB refuses the view (no Parquet footer).
    "garbage": (lambda obj, store, sid: _garbage(obj, obj.stat().st_size), "is corrupt (xxh3"),
    "column": (
        lambda obj, store, sid: _reseal_with_a_column_too_many(store, sid),
        "table people of snapshot",
    ),
}


@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_damaged_store_content_is_an_integrity_error(
    snap: tuple[Path, Path, str], tmp_path: Path, damage: str
) -> None:
    """A missing or corrupt object, or a manifest naming a column its object lacks: sql and
    attach exit 8 (IntegrityError, as restore) on one line naming the object or table and
    what to do; attach leaves --out as it was and nothing beside it; the API raises the same."""
    from navsnap.analyst import connect
    from navsnap.index import read_all

    store, sid, obj = _copy(snap, tmp_path)
    do, says = _DAMAGE[damage]
    do(obj, store, sid)
    key = obj.relative_to(store).as_posix()
    named = "people" if damage == "column" else key
    s = ["--store", str(store)]
    res = invoke_at("sql", sid, "SELECT count(*) FROM people", *s, cwd=tmp_path)
    assert res.returncode == IntegrityError.exit_code, (res.returncode, res.stderr)
    [line] = res.stderr.splitlines()
    assert says in line and named in line and f"'navsnap verify --deep {sid}'" in line, line
    assert "LINE 1" not in line and "internal error" not in line
    # Another table of the same snapshot: the snapshot is damaged, said before any query.
    res = invoke_at("sql", sid, "SELECT 1", *s, cwd=tmp_path)
    assert res.returncode == IntegrityError.exit_code and says in res.stderr, res.stderr

    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "analysis.duckdb"
    out.write_bytes(b"the analyst's own file")
    res = invoke_at("attach", sid, "--out", str(out), "--force", *s, cwd=tmp_path)
    assert res.returncode == IntegrityError.exit_code, (res.returncode, res.stderr)
    [line] = res.stderr.splitlines()
    assert says in line and named in line and "LINE 1" not in line, line
    assert [p.name for p in out_dir.iterdir()] == ["analysis.duckdb"]
    assert out.read_bytes() == b"the analyst's own file"
    assert scratch_databases() == {"memory", "system", "temp"}

    with pytest.raises(IntegrityError, match=re.escape(says)) as caught:
        api.sql(store, sid, "SELECT count(*) FROM people")
    assert caught.value.snapshot_id == sid
    assert caught.value.path == (None if damage == "column" else key)
    st = open_store(store)
    (m,) = [m for m in read_all(st)[0] if m.snapshot_id == sid]
    with pytest.raises(IntegrityError, match=re.escape(says)):
        connect(st, m).close()


def _scramble_inside(path: Path) -> None:
    """Bytes in the middle of the file changed, its size and Parquet footer kept: DuckDB
    creates the view, and fails only when it decodes the pages."""
    data = bytearray(path.read_bytes())
    for i in range(64, len(data) // 2):
        data[i] = (data[i] * 7 + 13) & 0xFF
    path.write_bytes(bytes(data))


def test_a_query_failing_on_a_damaged_object_is_an_integrity_error(
    snap: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """An object damaged inside (same size, footer intact) fails only when a query decodes
    it: that failure is reported as the object's (exit 8, by its hash), not as the query's.
    A query DuckDB refuses by its text stays the user's error (exit 2), damaged store or not."""
    from navsnap.errors import IntegrityError

    store, sid, obj = _copy(snap, tmp_path)
    _scramble_inside(obj)
    key = obj.relative_to(store).as_posix()
    with pytest.raises(IntegrityError, match=re.escape(f"object {key} of snapshot {sid}")):
        api.sql(store, sid, "SELECT * FROM people")
    res = invoke_at("sql", sid, "SELECT * FROM people", "--store", str(store), cwd=tmp_path)
    assert res.returncode == IntegrityError.exit_code, res.stderr
    assert "is corrupt (xxh3" in res.stderr and len(res.stderr.splitlines()) == 1
    for query in ("SELEC * FROM people", "SELECT nope FROM people", "SELECT * FROM nope"):
        with pytest.raises(UsageError, match="query failed"):
            api.sql(store, sid, query)


def test_a_query_failing_over_intact_objects_is_the_users_error(
    snap: tuple[Path, Path, str],
) -> None:
    """A query that fails while it runs has the objects checked first; intact, the error is
    the query's (exit 2, DuckDB's words), not the store's."""
    _, store, sid = snap
    for query in ("SELECT 'abc'::INTEGER FROM people", "SELECT error('boom')"):
        with pytest.raises(UsageError, match="query failed"):
            api.sql(store, sid, query)


@pytest.mark.parametrize("query", ["", "  ", ";", " ; ;\n", "-- only a comment"])
def test_an_empty_query_is_a_usage_error(snap: tuple[Path, Path, str], query: str) -> None:
    _, store, sid = snap
    with pytest.raises(UsageError, match="query is empty") as caught:
        api.sql(store, sid, query)
    assert "give a SELECT" in caught.value.hint


def test_an_empty_query_on_the_command_line(snap: tuple[Path, Path, str]) -> None:
    _, store, sid = snap
    res = invoke_at("sql", sid, "", "--store", str(store), cwd=store.parent)
    assert res.returncode == UsageError.exit_code, res.stderr
    [line] = res.stderr.splitlines()
    assert line.startswith("navsnap: error: query is empty (give a SELECT"), line
