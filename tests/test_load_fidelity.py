"""Tables whose rows DuckDB will not take back as a plain INSERT come back exactly, or are
refused at checkpoint under the DuckDB that cannot restore them.

* A generated column (``y INTEGER GENERATED ALWAYS AS (x * 2) VIRTUAL``): DuckDB computes
  it and refuses an INSERT that names it. Its values are in the Parquet (for analysts), and
  a restore, full or delta, leaves them to DuckDB.
* A FOREIGN KEY referencing its own table (``boss INTEGER REFERENCES e (id)``): DuckDB checks
  each row against the rows already in the table, so rows go back referenced ones first.
  Before 2.0 DuckDB leaves the key out of its own text of the table; navsnap writes it back
  (1.1 on) or refuses the table at checkpoint (1.0).
* A LIST of an ENUM: DuckDB 1.0 reads its own text of the type as the ENUM alone, so it is
  refused at checkpoint under 1.0.
* A restore that DuckDB stops because it refuses what navsnap writes says that the snapshot
  is intact and navsnap could not rebuild it, not to look for damage.

Tiny databases, in-process: the core suite runs this file under every supported DuckDB.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import table_fingerprints

import navsnap
from navsnap import engine, materialize
from navsnap.config import load_config
from navsnap.errors import DatabaseError, RestoreError
from navsnap.hashing import hash_bytes
from navsnap.index import resolve
from navsnap.manifest import canonical_json
from navsnap.restore.plan import plan_restore
from navsnap.store import open_store

pytestmark = pytest.mark.core


def build(db: Path, sql: str) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute(sql)
    finally:
        con.close()


def checkpoint(db: Path, year: int) -> None:
    navsnap.checkpoint(
        db=db, year=year, store=db.parent / "store", config=load_config(search_cwd=False)
    )


def described(db: Path, table: str) -> dict[str, Any]:
    """What DuckDB says about ``table`` in ``db``: its DDL, columns, constraints and rows."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            "sql": con.execute(
                "SELECT sql FROM duckdb_tables() WHERE table_name = ?", [table]
            ).fetchall(),
            "columns": con.execute(
                "SELECT column_name, data_type, column_default, is_nullable FROM duckdb_columns() "
                "WHERE table_name = ? ORDER BY column_index",
                [table],
            ).fetchall(),
            "constraints": sorted(
                con.execute(
                    "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
                    "WHERE table_name = ?",
                    [table],
                ).fetchall(),
                key=repr,
            ),
            "rows": con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall(),
            "fingerprints": table_fingerprints(db),
        }
    finally:
        con.close()


def plan_of(db: Path, year: int) -> str:
    st = open_store(db.parent / "store")
    return plan_restore(st, resolve(st, year=year), db_path=db).strategy


# --------------------------------------------------------------------------- generated columns

GENERATED = """
CREATE TABLE g (
    simulation_year INTEGER,
    x INTEGER DEFAULT 5,
    y INTEGER GENERATED ALWAYS AS (x * 2) VIRTUAL,
    label AS ('n' || x)
);
INSERT INTO g (simulation_year, x) SELECT 2025 + i % 2, i FROM range(20) r(i);
INSERT INTO g (simulation_year) VALUES (2026);
"""


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    db = tmp_path / "model.duckdb"
    build(db, GENERATED)
    checkpoint(db, 2026)
    return db, described(db, "g")


def test_generated_columns_come_back_after_a_full_restore(
    generated: tuple[Path, dict[str, Any]],
) -> None:
    db, want = generated
    db.write_bytes(b"not a database" * 1000)
    assert navsnap.restore(store=db.parent / "store", db=db, year=2026).plan.strategy == "full"
    assert described(db, "g") == want
    assert plan_of(db, 2026) == "none"
    # still generated: DuckDB computes them for a new row and refuses a value for them
    con = duckdb.connect(str(db))
    try:
        con.execute("INSERT INTO g (simulation_year, x) VALUES (2026, 100)")
        assert con.execute("SELECT y, label FROM g WHERE x = 100").fetchall() == [(200, "n100")]
        with pytest.raises(duckdb.BinderException):
            con.execute("INSERT INTO g (simulation_year, x, y) VALUES (2026, 1, 1)")
    finally:
        con.close()


def test_generated_columns_come_back_after_a_delta_restore(
    generated: tuple[Path, dict[str, Any]],
) -> None:
    db, want = generated
    con = duckdb.connect(str(db))
    con.execute("UPDATE g SET x = x + 1000 WHERE simulation_year = 2026 AND x = 3")
    con.close()
    report = navsnap.restore(store=db.parent / "store", db=db, year=2026)
    assert report.plan.strategy == "delta", report.plan.reason
    assert described(db, "g") == want


def test_generated_columns_restore_to_another_file(
    generated: tuple[Path, dict[str, Any]],
) -> None:
    db, want = generated
    out = db.parent / "copy" / "model.duckdb"
    out.parent.mkdir()
    navsnap.restore(store=db.parent / "store", db=db, year=2026, to=out)
    got = described(out, "g")
    assert got == want


def test_generated_columns_are_in_the_parquet_an_analyst_reads(
    generated: tuple[Path, dict[str, Any]],
) -> None:
    db, want = generated
    st = open_store(db.parent / "store")
    manifest = resolve(st, year=2026)
    (entry,) = manifest.tables
    files = [str(db.parent / "store" / p.object.key) for p in entry.partitions]
    con = duckdb.connect()
    try:
        rows = con.execute(
            f"SELECT simulation_year, x, y, label FROM read_parquet({json.dumps(files)}) "
            "ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    assert rows == want["rows"]
    out = db.parent / "views.duckdb"
    navsnap.attach(db.parent / "store", manifest.snapshot_id, out)
    con = duckdb.connect(str(out), read_only=True)
    try:
        assert con.execute("SELECT * FROM g ORDER BY ALL").fetchall() == want["rows"]
    finally:
        con.close()


# --------------------------------------------------------------------------- self-references

SELF_FK = """
CREATE TABLE e (
    simulation_year INTEGER,
    id INTEGER PRIMARY KEY,
    boss INTEGER REFERENCES e (id),
    name VARCHAR
);
INSERT INTO e VALUES (2025, 1, NULL, 'root');
"""


def _chain(con: duckdb.DuckDBPyConnection, year: int, first: int, last: int) -> None:
    """Rows ``first``..``last`` of ``year``, each reporting to the one before it (a chain as
    deep as it is long), inserted one statement at a time as DuckDB requires."""
    for i in range(first, last + 1):
        con.execute("INSERT INTO e VALUES (?, ?, ?, ?)", [year, i, i - 1, f"n{i}"])


def test_a_table_referencing_itself_comes_back_with_its_key(tmp_path: Path) -> None:
    db = tmp_path / "model.duckdb"
    build(db, SELF_FK)
    con = duckdb.connect(str(db))
    _chain(con, 2025, 2, 15)
    con.close()
    if not (engine.SELF_REFERENCE_IN_SQL or engine.FK_REFERENCED_COLUMNS):
        before = db.read_bytes()
        with pytest.raises(DatabaseError, match="table e cannot be snapshotted under DuckDB"):
            checkpoint(db, 2025)
        assert db.read_bytes() == before
        assert not list((tmp_path / "store" / "manifests").glob("*.json"))
        return
    checkpoint(db, 2025)
    con = duckdb.connect(str(db))
    _chain(con, 2026, 16, 30)
    con.execute("INSERT INTO e VALUES (2026, 31, 3, 'side'), (2026, 32, NULL, 'other root')")
    con.close()
    checkpoint(db, 2026)
    want = described(db, "e")
    assert ("FOREIGN KEY", ["boss"]) in want["constraints"]

    db.write_bytes(b"not a database" * 1000)
    assert navsnap.restore(store=tmp_path / "store", db=db, year=2026).plan.strategy == "full"
    assert described(db, "e") == want
    assert plan_of(db, 2026) == "none"
    con = duckdb.connect(str(db))
    try:
        with pytest.raises(duckdb.ConstraintException):
            con.execute("INSERT INTO e VALUES (2026, 99, 98, 'nobody')")
    finally:
        con.close()

    # back one year: the 2026 rows go (a delta, or in full where keyed rows cannot be
    # rewritten in place); then forward again
    navsnap.restore(store=tmp_path / "store", db=db, year=2025)
    assert described(db, "e")["rows"] == [r for r in want["rows"] if r[0] == 2025]
    navsnap.restore(store=tmp_path / "store", db=db, year=2026)
    assert described(db, "e") == want


def test_an_older_snapshot_that_lost_the_key_is_refused_not_restored_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # navsnap before it wrote the key back stored DuckDB's own text (1.1-1.5): an empty item
    # where the key was, which DuckDB runs as a table without it. Forged here on any release.
    db = tmp_path / "model.duckdb"
    build(
        db,
        "CREATE TABLE e (simulation_year INTEGER, id INTEGER PRIMARY KEY, name VARCHAR);"
        "INSERT INTO e VALUES (2025, 1, 'root');",
    )
    checkpoint(db, 2025)
    (path,) = (tmp_path / "store" / "manifests").glob("*.json")
    data = json.loads(path.read_text())
    (entry,) = data["tables"]
    assert entry["ddl"].endswith("VARCHAR);"), entry["ddl"]
    entry["ddl"] = entry["ddl"][: -len(");")] + ", );"
    data.pop("integrity")
    data["integrity"] = hash_bytes(canonical_json(data))
    path.write_text(json.dumps(data))
    db.write_bytes(b"not a database" * 1000)
    before = db.read_bytes()
    # A dry run refuses what the restore would; neither fetches anything to find out.
    with pytest.raises(RestoreError, match="cannot give table e back exactly"):
        navsnap.restore(store=tmp_path / "store", db=db, year=2025, dry_run=True)
    from navsnap.restore import pipeline

    monkeypatch.setattr(pipeline, "fetch", lambda *_a, **_k: pytest.fail("fetched"))
    with pytest.raises(RestoreError, match="cannot give table e back exactly"):
        navsnap.restore(store=tmp_path / "store", db=db, year=2025)
    assert db.read_bytes() == before
    out = tmp_path / "other.duckdb"
    with pytest.raises(RestoreError, match="lacks a constraint"):
        navsnap.restore(store=tmp_path / "store", db=db, year=2025, to=out)
    assert not out.exists()


# --------------------------------------------------------------------------- LIST of ENUM

ENUM_LIST = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'it''s, fine');
CREATE TABLE t (simulation_year INTEGER, ms mood[], one mood);
INSERT INTO t VALUES (2025, ['ok', 'sad'], 'ok'), (2025, ['it''s, fine', NULL], NULL),
    (2025, [], 'sad'), (2025, NULL, 'sad');
"""


def test_a_list_of_enum_comes_back_or_is_refused_at_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "model.duckdb"
    build(db, ENUM_LIST)
    want = described(db, "t")
    if not engine.ENUM_LIST_TEXT_PARSES:
        before = db.read_bytes()
        with pytest.raises(DatabaseError, match=r"column ms .* reads that type back as"):
            checkpoint(db, 2025)
        assert db.read_bytes() == before
        return
    checkpoint(db, 2025)
    db.write_bytes(b"not a database" * 1000)
    assert navsnap.restore(store=tmp_path / "store", db=db, year=2025).plan.strategy == "full"
    assert described(db, "t") == want


# --------------------------------------------------------------------------- the hint


def test_a_load_duckdb_refuses_says_the_snapshot_is_intact(
    generated: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _want = generated
    # as navsnap loaded before it knew of generated columns: DuckDB refuses the INSERT
    monkeypatch.setattr(materialize, "generated_columns", lambda con, table: frozenset())
    out = db.parent / "out.duckdb"
    with pytest.raises(RestoreError) as info:
        navsnap.restore(store=db.parent / "store", db=db, year=2026, to=out)
    line = info.value.one_line()
    assert "navsnap could not rebuild" in line
    assert "Cannot insert into a generated column" in line
    assert "the snapshot is intact" in line and "report it" in line
    assert "verify --deep" not in line
    assert info.value.exit_code == 12
    assert not out.exists()


def test_a_load_that_fails_reading_points_at_the_store(
    generated: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _want = generated

    def unreadable(con: duckdb.DuckDBPyConnection, table: Any, files: Any) -> None:
        raise duckdb.IOException("IO Error: could not read the file")

    monkeypatch.setattr(materialize, "load_parquet", unreadable)
    out = db.parent / "out.duckdb"
    with pytest.raises(RestoreError) as info:
        navsnap.restore(store=db.parent / "store", db=db, year=2026, to=out)
    assert "verify --deep" in info.value.one_line()
    assert not out.exists()
