"""A restore contains only what its snapshot lists (issue 13, deliverable 4).

After a full or delta restore the catalog of the built database (tables, views, schemas,
macros, types, sequences, indexes, other attached databases, secrets) is compared with the
manifest before anything is swapped or committed: an object the manifest does not list fails
the restore (exit 12) and the target is untouched. A live database holding tables the
snapshot does not list is restored in full, the old file (and those tables) kept aside, never
dropped in place. ``verify --deep`` reports the objects of a whole-file copy it opens.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import TOY_STEP, invoke, table_fingerprints

import navsnap
from navsnap.compare import unlisted_objects
from navsnap.config import load_config
from navsnap.errors import RestoreError
from navsnap.hashing import hash_bytes
from navsnap.manifest import Manifest, canonical_json
from navsnap.restore import build as build_module

INJECTED = {
    "table": "CREATE TABLE main.stolen AS SELECT 42 AS x",
    "view": "CREATE VIEW main.peek AS SELECT 1 AS x",
    "schema": "CREATE SCHEMA loot",
    "macro": "CREATE MACRO sneaky(x) AS x + 1",
    "sequence": "CREATE SEQUENCE seq_extra",
    "type": "CREATE TYPE mood AS ENUM ('ok')",
    "database": "ATTACH ':memory:' AS smuggled",
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    navsnap.run(cfg, db=root / "sim.duckdb", years=(2025, 2026))
    return root


@pytest.fixture
def work(prepared: Path, tmp_path: Path) -> Path:
    shutil.copytree(prepared, tmp_path / "w")
    return tmp_path / "w"


def newest(work: Path, year: int) -> str:
    return sorted(p.stem for p in (work / "snapshots" / "manifests").glob(f"*-{year}.json"))[-1]


def inject_after(monkeypatch: pytest.MonkeyPatch, name: str, sql: str) -> Callable[..., Any]:
    """Make ``navsnap.restore.build.<name>`` run ``sql`` on its connection after its work."""
    original: Callable[..., Any] = getattr(build_module, name)

    def wrapped(con: duckdb.DuckDBPyConnection, *args: Any, **kwargs: Any) -> Any:
        out = original(con, *args, **kwargs)
        con.execute(sql)
        return out

    monkeypatch.setattr(build_module, name, wrapped)
    return original


@pytest.mark.parametrize("kind", sorted(INJECTED))
def test_an_object_the_manifest_does_not_list_fails_a_full_restore(
    work: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    inject_after(monkeypatch, "build_database", INJECTED[kind])
    db = work / "sim.duckdb"
    db.write_bytes(b"garbage: a full restore is needed")
    before = sorted(p.name for p in work.iterdir())
    code, _o, err = invoke("restore", newest(work, 2026), "--db", str(db))
    assert code == 12, err
    line = err.strip()
    assert "\n" not in line and "is not in the snapshot" in line and kind in line, err
    assert db.read_bytes() == b"garbage: a full restore is needed"
    assert sorted(p.name for p in work.iterdir()) == before, "something was swapped or left"


def test_restore_to_a_new_path_leaves_nothing_behind(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inject_after(monkeypatch, "build_database", INJECTED["table"])
    with pytest.raises(RestoreError, match=r"table main\.stolen is not in the snapshot"):
        navsnap.restore(store=work / "snapshots", snapshot=newest(work, 2025), to=work / "c.db")
    assert not (work / "c.db").exists()
    assert not [p for p in work.iterdir() if ".navsnap-restore-" in p.name]


def test_an_object_added_during_a_delta_is_rolled_back_and_the_restore_done_in_full(
    prepared: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = work / "sim.duckdb"
    want = newest(work, 2026)
    con = duckdb.connect(str(db))
    con.execute("UPDATE yearly SET pay = pay + 1 WHERE simulation_year = 2025")
    con.close()
    plan = navsnap.restore(store=work / "snapshots", snapshot=want, db=db, dry_run=True).plan
    assert plan.strategy == "delta"
    inject_after(monkeypatch, "reload_partition", "CREATE OR REPLACE VIEW main.peek AS SELECT 1")
    report = navsnap.restore(store=work / "snapshots", snapshot=want, db=db)
    assert report.plan.strategy == "full"
    assert "delta failed" in report.plan.reason
    assert "does not match snapshot" in report.plan.reason and "main.peek" in report.plan.reason
    assert table_fingerprints(db) == table_fingerprints(prepared / "sim.duckdb")
    con = duckdb.connect(str(db), read_only=True)
    try:
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
    finally:
        con.close()
    assert "peek" not in views


def test_a_live_table_the_snapshot_does_not_list_is_kept_aside_not_dropped(work: Path) -> None:
    db = work / "sim.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE my_notes AS SELECT 'keep me' AS note")
    con.close()
    store = str(work / "snapshots")
    code, out, err = invoke(
        "restore", "--year", "2026", "--db", str(db), "--store", store, "--dry-run"
    )
    assert code == 0, err
    assert "full" in out and "my_notes are not in the snapshot" in out, out

    report = navsnap.restore(store=store, year=2026, db=db)
    assert report.plan.strategy == "full" and report.plan.drop_tables == ()
    assert "my_notes" not in {k.split(".")[-1] for k in table_fingerprints(db)}
    kept = [Path(p) for p in report.moved_aside if not p.endswith(".wal")]
    assert len(kept) == 1
    con = duckdb.connect(str(kept[0]), read_only=True)
    try:
        assert con.execute("SELECT note FROM my_notes").fetchall() == [("keep me",)]
    finally:
        con.close()


def file_mode_store(work: Path) -> tuple[Path, str]:
    """A whole-file snapshot of a database holding a table its (forged) manifest omits."""
    db = work / "whole.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t (simulation_year INTEGER, v INTEGER)")
    con.execute("INSERT INTO t VALUES (2025, 1)")
    con.execute("CREATE TABLE hidden AS SELECT 'smuggled' AS s")
    con.close()
    store = work / "fstore"
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    m = navsnap.checkpoint(db=db, year=2025, store=store, config=cfg, mode="file")
    path = store / "manifests" / f"{m.snapshot_id}.json"
    doc = json.loads(path.read_text())
    doc["tables"] = [t for t in doc["tables"] if t["name"] != "hidden"]
    doc["validation"] = {k: v for k, v in doc["validation"].items() if "hidden" not in k}
    doc.pop("integrity")
    doc["integrity"] = hash_bytes(canonical_json(doc))  # what any writer of the store can do
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    Manifest.from_json(path.read_bytes())  # the forged manifest itself is well-formed
    return store, m.snapshot_id


def test_a_whole_file_copy_holding_more_than_its_manifest_is_refused(work: Path) -> None:
    store, sid = file_mode_store(work)
    code, _o, err = invoke("restore", sid, "--store", str(store), "--to", str(work / "r.db"))
    assert code == 12, err
    assert "table main.hidden is not in the snapshot" in err
    assert not (work / "r.db").exists()

    code, out, err = invoke("verify", "--deep", "--store", str(store))
    assert code == 14, (out, err)
    assert "table main.hidden is not in the snapshot" in out + err


def test_unlisted_objects_names_every_kind(prepared: Path) -> None:
    m = Manifest.from_json(
        next((prepared / "snapshots" / "manifests").glob("*-2026.json")).read_bytes()
    )
    listed = {("table", t.schema, t.table) for t in m.tables}
    listed |= {(d.kind, d.schema, d.name) for d in m.ddl}
    assert unlisted_objects(listed, m) == []
    extra = {("secret", "", "s3_creds"), ("database", "", "other"), ("view", "main", "x")}
    found = [x.describe() for x in unlisted_objects(listed | extra, m)]
    assert found == [
        "database other is not in the snapshot",
        "secret s3_creds is not in the snapshot",
        "view main.x is not in the snapshot",
    ]
    # A user's own secret, there before the restore, is allowed; a missing object is named.
    gone = ("view", "main", "v_pay2")
    found = [
        x.describe()
        for x in unlisted_objects(
            (listed - {gone}) | {("secret", "", "s3_creds")},
            m,
            allowed={("secret", "", "s3_creds")},
        )
    ]
    assert found == ["view main.v_pay2 is missing"]
    # Restoring some tables: the others are neither required nor extra only if allowed.
    some = unlisted_objects({("table", "main", "people")}, m, tables=["people"])
    assert some == []
