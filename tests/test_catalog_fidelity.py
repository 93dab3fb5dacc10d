"""Everything in the catalog comes back, after a full restore and after a delta restore.

A database holding each kind of catalog object (sequences at a current value, a CYCLE one, a
descending one, one feeding a column DEFAULT; scalar and table macros; indexes, UNIQUE
included; PRIMARY KEY, UNIQUE, composite, CHECK, NOT NULL, FOREIGN KEY and DEFAULT
constraints; an ENUM type and a type alias; a view over a view; comments on every kind of
object that takes one) is snapshotted and restored. The restored catalog is compared with the
original through DuckDB's own catalog functions, not through navsnap's fingerprints, and the
restored database matches its own snapshot (the next restore has nothing to do).

Tiny databases, in-process: the core suite runs this file under every supported DuckDB.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import table_fingerprints

import navsnap
from navsnap import engine
from navsnap.catalog import comment_sql
from navsnap.config import load_config
from navsnap.errors import IntegrityError, RestoreError
from navsnap.hashing import hash_bytes
from navsnap.index import resolve
from navsnap.manifest import Comment, Manifest, canonical_json
from navsnap.restore.check import check_comments
from navsnap.restore.plan import plan_restore
from navsnap.store import open_store

pytestmark = pytest.mark.core

SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE money AS DECIMAL(12, 2);
CREATE SEQUENCE seq_ids START 100;
CREATE SEQUENCE seq_cycle START 1 MINVALUE 1 MAXVALUE 3 CYCLE;
CREATE SEQUENCE seq_down INCREMENT BY -1 MINVALUE -10 MAXVALUE 10 START 5;
CREATE SEQUENCE seq_fresh START 7;
CREATE TABLE parent (id INTEGER PRIMARY KEY, code VARCHAR UNIQUE NOT NULL, m mood DEFAULT 'ok');
CREATE TABLE child (
    simulation_year INTEGER NOT NULL,
    id INTEGER DEFAULT nextval('seq_ids'),
    parent_id INTEGER REFERENCES parent (id),
    a INTEGER,
    b INTEGER,
    amount money CHECK (amount >= 0),
    note VARCHAR DEFAULT 'none',
    PRIMARY KEY (simulation_year, id),
    UNIQUE (a, b)
);
CREATE TABLE events (simulation_year INTEGER, kind mood, amount money, note VARCHAR);
CREATE INDEX events_note ON events (note);
CREATE UNIQUE INDEX parent_code_m ON parent (code, m);
CREATE MACRO add_one(x) AS x + 1;
CREATE MACRO events_of(y) AS TABLE SELECT * FROM events WHERE simulation_year = y;
CREATE VIEW v_events AS SELECT simulation_year, kind, add_one(1) AS one FROM events;
CREATE VIEW v_counts AS SELECT simulation_year, count(*) AS n FROM v_events GROUP BY ALL;
COMMENT ON TABLE parent IS 'the parents, ''quoted''';
COMMENT ON TABLE events IS '';
COMMENT ON COLUMN child.amount IS 'in euro';
COMMENT ON COLUMN v_counts.n IS 'rows per year';
COMMENT ON VIEW v_events IS 'events with a constant';
COMMENT ON SEQUENCE seq_ids IS 'child ids';
COMMENT ON MACRO add_one IS 'adds one';
COMMENT ON MACRO TABLE events_of IS 'events of a year';
COMMENT ON TYPE mood IS 'how it went';
COMMENT ON INDEX events_note IS 'by note';
"""

DATA = """
INSERT INTO parent VALUES (1, 'a', 'sad'), (2, 'b', DEFAULT), (3, 'c', 'happy');
INSERT INTO child (simulation_year, parent_id, a, b, amount)
    SELECT 2025 + i % 2, 1 + i % 3, i, i % 5, i * 1.25 FROM range(40) r(i);
INSERT INTO events SELECT 2025 + i % 2, ['sad', 'ok', 'happy'][1 + i % 3]::mood, i / 4,
    'n' || (i % 7) FROM range(60) r(i);
SELECT nextval('seq_cycle') FROM range(4);
SELECT nextval('seq_down') FROM range(3);
"""

#: What is compared: DuckDB's catalog functions, columns every supported release has.
CATALOG = {
    "tables": "SELECT table_name, sql, comment FROM duckdb_tables() WHERE NOT internal",
    "columns": "SELECT table_name, column_name, data_type, column_default, is_nullable, comment "
    "FROM duckdb_columns() WHERE NOT internal",
    "constraints": "SELECT table_name, constraint_type, constraint_text, expression, "
    "constraint_column_names FROM duckdb_constraints()",
    "indexes": "SELECT index_name, table_name, is_unique, is_primary, sql, comment "
    "FROM duckdb_indexes()",
    "sequences": "SELECT sequence_name, min_value, max_value, increment_by, cycle, comment "
    "FROM duckdb_sequences()",
    "macros": "SELECT function_name, function_type, parameters, macro_definition, comment "
    "FROM duckdb_functions() WHERE function_type IN ('macro', 'table_macro') AND NOT internal",
    "types": "SELECT type_name, logical_type, labels, comment FROM duckdb_types() "
    "WHERE NOT internal",
    "views": "SELECT view_name, sql, comment FROM duckdb_views() WHERE NOT internal",
}
SEQUENCES = ("seq_ids", "seq_cycle", "seq_down", "seq_fresh")


def catalog(db: Path) -> dict[str, Any]:
    """The catalog of ``db`` as DuckDB lists it, each list sorted (oids and order aside)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, Any] = {
            name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in CATALOG.items()
        }
        out["type_definitions"] = [
            con.execute(f"SELECT typeof(CAST(NULL AS {t}))").fetchone() for t in ("mood", "money")
        ]
        out["rows"] = table_fingerprints(db)
        out["view_rows"] = con.execute("SELECT * FROM v_counts ORDER BY ALL").fetchall()
        out["macro_rows"] = con.execute(
            "SELECT add_one(41), (SELECT count(*) FROM events_of(2026))"
        ).fetchall()
    finally:
        con.close()
    out["next_values"] = next_values(db)
    return out


def next_values(db: Path) -> dict[str, list[int]]:
    """What each sequence hands out next (five values), and the id a DEFAULT nextval() gives,
    taken on a copy so that ``db`` itself is left as it is."""
    copy = db.with_name(db.stem + ".probe.duckdb")
    shutil.copyfile(db, copy)
    con = duckdb.connect(str(copy))
    try:
        got = {
            s: [row[0] for row in con.execute(f"SELECT nextval('{s}') FROM range(5)").fetchall()]
            for s in SEQUENCES
        }
        row = con.execute(
            "INSERT INTO child (simulation_year, parent_id, a, b, amount) "
            "VALUES (2026, 1, 999, 999, 1) RETURNING id"
        ).fetchone()
        assert row is not None
        got["default"] = [row[0]]
        for fails in (
            "INSERT INTO child (simulation_year, id, parent_id) VALUES (2026, 1, 99)",  # FK
            "INSERT INTO child (simulation_year, id, amount) VALUES (2026, 1, -1)",  # CHECK
            "INSERT INTO parent VALUES (1, 'z', 'ok')",  # PRIMARY KEY
            "INSERT INTO parent (id, code) VALUES (9, NULL)",  # NOT NULL
            "INSERT INTO child (simulation_year, a, b) VALUES (2025, 0, 0)",  # UNIQUE (a, b)
        ):
            with pytest.raises(duckdb.ConstraintException):
                con.execute(fails)
    finally:
        con.close()
        copy.unlink()
    return got


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A folder with the database and its store, snapshotted as the end of 2026; its catalog."""
    root = tmp_path_factory.mktemp("catalog")
    db = root / "model.duckdb"
    con = duckdb.connect(str(db))
    con.execute(SCHEMA)
    con.execute(DATA)
    con.close()
    want = catalog(db)
    navsnap.checkpoint(db=db, year=2026, store=root / "store", config=load_config(search_cwd=False))
    assert catalog(db) == want  # a snapshot changes nothing
    return root, want


@pytest.fixture
def original(
    built: tuple[Path, dict[str, Any]], tmp_path: Path
) -> tuple[Path, Path, dict[str, Any]]:
    """(database, store, its catalog): a fresh copy of :func:`built` for each test."""
    root, want = built
    shutil.copyfile(root / "model.duckdb", tmp_path / "model.duckdb")
    shutil.copytree(root / "store", tmp_path / "store")
    return tmp_path / "model.duckdb", tmp_path / "store", want


def matches_own_snapshot(db: Path, store: Path) -> str:
    st = open_store(store)
    return plan_restore(st, resolve(st, year=2026), db_path=db).strategy


def test_full_restore_brings_back_every_catalog_object(
    original: tuple[Path, Path, dict[str, Any]],
) -> None:
    db, store, want = original
    db.write_bytes(b"not a database" * 1000)
    report = navsnap.restore(store=store, db=db, year=2026)
    assert report.plan.strategy == "full"
    got = catalog(db)
    for part in want:
        assert got[part] == want[part], part
    assert matches_own_snapshot(db, store) == "none"


def test_full_restore_to_another_stem_brings_back_every_catalog_object(
    original: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    db, store, want = original
    out = tmp_path / "other" / "copy.duckdb"
    out.parent.mkdir()
    navsnap.restore(store=store, db=db, year=2026, to=out)
    got = catalog(out)
    for part in want:
        assert got[part] == want[part], part
    assert matches_own_snapshot(out, store) == "none"


CHANGES = {
    # a plain table with an index
    "events": "UPDATE events SET note = 'changed' WHERE simulation_year = 2026 AND note = 'n1'",
    # keys, a foreign key, a CHECK and a DEFAULT nextval()
    "child": "UPDATE child SET amount = amount + 1 WHERE simulation_year = 2026 AND a = 3",
}


@pytest.mark.parametrize("table", sorted(CHANGES))
def test_delta_restore_brings_back_data_and_comments(
    original: tuple[Path, Path, dict[str, Any]], table: str
) -> None:
    db, store, want = original
    con = duckdb.connect(str(db))
    con.execute(CHANGES[table])
    con.execute("INSERT INTO events VALUES (2027, 'ok', 1, 'a later year')")
    con.execute("COMMENT ON TABLE parent IS 'another text'")  # changed
    con.execute("COMMENT ON COLUMN child.amount IS NULL")  # lost
    con.execute("COMMENT ON VIEW v_counts IS 'not in the snapshot'")  # added
    con.execute("COMMENT ON MACRO TABLE events_of IS NULL")
    con.close()
    assert catalog(db) != want
    report = navsnap.restore(store=store, db=db, year=2026)
    if table == "child" and not engine.REINSERTS_DELETED_KEYS:
        assert report.plan.strategy == "full"  # 1.0 and 1.1 (docs/format.md)
    else:
        assert report.plan.strategy == "delta", report.plan.reason
        assert len(report.plan.comments) == 4
        loads = {(a.table, str(a.year)) for a in report.plan.actions if a.action == "load"}
        assert loads == {(table, "2026")}
        assert report.plan.count("drop") == 1  # the 2027 partition
        assert report.plan.drop_tables == ()  # a table not in the snapshot makes it full
    got = catalog(db)
    for part in want:
        assert got[part] == want[part], part
    assert matches_own_snapshot(db, store) == "none"


def test_changed_comments_alone_make_a_delta(
    original: tuple[Path, Path, dict[str, Any]],
) -> None:
    db, store, want = original
    con = duckdb.connect(str(db))
    con.execute("COMMENT ON TYPE mood IS 'edited'")
    con.execute("COMMENT ON COLUMN v_counts.n IS NULL")
    con.close()
    report = navsnap.restore(store=store, db=db, year=2026)
    assert report.plan.strategy == "delta"
    assert report.plan.count("load") == 0
    assert catalog(db) == want
    assert matches_own_snapshot(db, store) == "none"


def test_a_comment_lost_on_restore_fails_the_check(
    original: tuple[Path, Path, dict[str, Any]], tmp_path: Path
) -> None:
    _db, store, _want = original
    manifest = resolve(open_store(store), year=2026)
    # The store says the sequence has a comment the restore does not write.
    extra = Comment("SEQUENCE", "main", "seq_fresh", "x")
    forged = dataclasses.replace(manifest, comments=(*manifest.comments, extra))
    con = duckdb.connect(str(tmp_path / "copy.duckdb"))
    try:
        con.execute(SCHEMA)
        with pytest.raises(RestoreError, match="comments do not match"):
            check_comments(con, forged)
        con.execute(comment_sql(extra))
        check_comments(con, forged)
        con.execute("COMMENT ON TABLE parent IS 'other'")
        with pytest.raises(RestoreError, match="comments do not match"):
            check_comments(con, forged)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("comment", "why"),
    [
        ({"on": "SCHEMA", "schema": "main", "name": "x", "text": "t"}, "is not one of"),
        ({"on": "TABLE; DROP", "schema": "main", "name": "x", "text": "t"}, "is not one of"),
        ({"on": "TABLE", "schema": "main", "name": "x", "text": "t", "column": "c"}, "no column"),
        ({"on": "COLUMN", "schema": "main", "name": "x", "text": "t"}, "not a string"),
        ({"on": "TABLE", "schema": "main", "name": 7, "text": "t"}, "not a string"),
        ({"on": "TABLE", "schema": "main", "name": "x", "text": ["t"]}, "not a string"),
        ({"on": "TABLE", "schema": "main", "name": "x\u0000", "text": "t"}, "not a string"),
    ],
)
def test_a_manifest_comment_is_typed_values_navsnap_quotes_itself(
    original: tuple[Path, Path, dict[str, Any]], comment: dict[str, Any], why: str
) -> None:
    _db, store, _want = original
    manifest = resolve(open_store(store), year=2026)
    assert len(manifest.comments) == 10
    doc = json.loads(manifest.to_json())
    doc.pop("integrity")
    doc["comments"].append(comment)
    doc["integrity"] = hash_bytes(canonical_json(doc))  # what any writer can recompute
    with pytest.raises(IntegrityError, match=r"comments\[10\]") as info:
        Manifest.from_json(json.dumps(doc).encode())
    assert why in info.value.one_line()


def test_hostile_names_and_text_are_quoted(tmp_path: Path) -> None:
    db = tmp_path / "model.duckdb"
    con = duckdb.connect(str(db))
    con.execute('CREATE TABLE "we""ird; --" (simulation_year INTEGER, "c\'ol" INTEGER)')
    con.execute("COMMENT ON TABLE \"we\"\"ird; --\" IS 'it''s; DROP TABLE x; --'")
    con.execute('COMMENT ON COLUMN "we""ird; --"."c\'ol" IS \'ünï "q"\'')
    con.execute('INSERT INTO "we""ird; --" VALUES (2026, 1)')  # a checkpoint's year has rows
    con.close()
    store = tmp_path / "store"
    navsnap.checkpoint(db=db, year=2026, store=store, config=load_config(search_cwd=False))
    out = tmp_path / "copy.duckdb"
    navsnap.restore(store=store, db=db, year=2026, to=out)
    sql = (
        "SELECT table_name, comment FROM duckdb_tables() UNION ALL "
        "SELECT column_name, comment FROM duckdb_columns() WHERE comment IS NOT NULL ORDER BY ALL"
    )
    assert (
        catalog_rows(out, sql)
        == catalog_rows(db, sql)
        == [
            ("c'ol", 'ünï "q"'),
            ('we"ird; --', "it's; DROP TABLE x; --"),
        ]
    )


def catalog_rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_old_manifests_without_comments_still_read(
    original: tuple[Path, Path, dict[str, Any]],
) -> None:
    _db, store, _want = original
    manifest = dataclasses.replace(resolve(open_store(store), year=2026), comments=())
    doc = json.loads(manifest.to_json())
    assert "comments" not in doc  # absent, as navsnap wrote it before comments
    assert Manifest.from_json(manifest.to_json()) == manifest
