from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import table_fingerprints, tree_bytes

import navsnap
from navsnap import engine
from navsnap.config import Config
from navsnap.errors import IntegrityError, RestoreError, UsageError
from navsnap.index import read_all, resolve
from navsnap.store import open_store


@pytest.fixture
def toy_run(tmp_path: Path, toy_config: Config) -> Path:
    """A 2025-2027 toy run with snapshots; returns the database path."""
    db = tmp_path / "sim.duckdb"
    navsnap.run(toy_config, db=db, years=(2025, 2027), store=str(tmp_path / "store"))
    return db


def reference(tmp_path: Path, config: Config, last: int) -> dict[str, tuple[int, str]]:
    ref = tmp_path / f"ref-{last}.duckdb"
    navsnap.run(config, db=ref, years=(2025, last), snapshots=False)
    return table_fingerprints(ref)


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "wal-garbage"])
def test_full_restore_from_a_lost_or_damaged_file(
    tmp_path: Path, toy_config: Config, toy_run: Path, damage: str
) -> None:
    db = toy_run
    if damage == "missing":
        db.unlink()
    elif damage == "garbage":
        db.write_bytes(os.urandom(300_000))
    elif damage == "truncated":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 3])
    else:
        db.write_bytes(os.urandom(50_000))
        db.with_name(db.name + ".wal").write_bytes(os.urandom(5000))
    report = navsnap.restore(store=tmp_path / "store", db=db, year=2026)
    assert report.plan.strategy == "full"
    assert table_fingerprints(db) == reference(tmp_path, toy_config, 2026)
    if damage != "missing":
        assert any(".before-restore-" in m for m in report.moved_aside)
        assert all(Path(m).exists() for m in report.moved_aside)
    assert not db.with_name(db.name + ".wal").exists()
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM v_pay2").fetchall() == [(2,)]
    assert con.execute("SELECT count(*) FROM yearly_pay(2026)").fetchall() == [(200,)]
    con.close()
    leftovers = [p.name for p in tmp_path.iterdir() if "navsnap-restore" in p.name]
    assert leftovers == []


def test_restored_database_continues_like_the_original(
    tmp_path: Path, toy_config: Config, toy_run: Path
) -> None:
    """Constraints, defaults and the sequence position survive a restore."""
    navsnap.restore(store=tmp_path / "store", db=toy_run, year=2026, to=tmp_path / "r.duckdb")
    orig = duckdb.connect(str(tmp_path / "o.duckdb"))
    orig.close()
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO people VALUES (1, 1, 10, 'dup')")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO people VALUES (9999, 1, -5, 'neg')")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO people VALUES (9998, 7, 5, 'no region')")
    con.execute("INSERT INTO people (person_id, region_id, salary) VALUES (9997, 1, 5)")
    assert con.execute("SELECT status FROM people WHERE person_id = 9997").fetchall() == [
        ("active",)
    ]
    live = duckdb.connect(str(toy_run), read_only=True)
    # the sequence continues after the last value used before the end of 2026
    max_2026 = live.execute(
        "SELECT max(event_id) FROM yearly WHERE simulation_year <= 2026"
    ).fetchone()
    live.close()
    con.close()
    assert max_2026 is not None
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    (nxt,) = con.execute("SELECT nextval('seq_event')").fetchone()  # type: ignore[misc]
    con.close()
    assert nxt == max_2026[0] + 1


def test_delta_restore_rewrites_only_what_differs(
    tmp_path: Path, toy_config: Config, toy_run: Path
) -> None:
    db = toy_run
    con = duckdb.connect(str(db))
    con.execute("UPDATE yearly SET pay = pay + 1 WHERE simulation_year = 2025 AND person_id < 5")
    con.close()
    store = open_store(tmp_path / "store")
    snap = resolve(store, year=2027)
    plan = navsnap.restore(store=store, db=db, year=2027, dry_run=True).plan
    assert plan.strategy == "delta"
    assert [(a.table, str(a.year)) for a in plan.actions if a.action == "load"] == [
        ("yearly", "2025")
    ]
    report = navsnap.restore(store=store, db=db, snapshot=snap.snapshot_id)
    assert report.plan.strategy == "delta" and report.moved_aside == ()
    assert table_fingerprints(db) == reference(tmp_path, toy_config, 2027)
    # now back to 2026: the 2027 partitions are removed
    plan = navsnap.restore(store=store, db=db, year=2026).plan
    assert plan.strategy in ("delta", "full")
    assert table_fingerprints(db) == reference(tmp_path, toy_config, 2026)


def test_delta_restore_of_damaged_partition_and_later_years(
    tmp_path: Path, toy_config: Config, toy_run: Path
) -> None:
    # same sequence state: restore 2027 over a db whose 2026 partition lost rows
    con = duckdb.connect(str(toy_run))
    con.execute("DELETE FROM yearly WHERE simulation_year = 2026 AND person_id % 3 = 0")
    con.execute("INSERT INTO audit.log VALUES (2031, 'future')")
    con.close()
    report = navsnap.restore(store=tmp_path / "store", db=toy_run, year=2027)
    acts = {(a.table, str(a.year), a.action) for a in report.plan.actions if a.action != "keep"}
    assert acts == {("yearly", "2026", "load"), ("audit.log", "2031", "drop")}
    assert table_fingerprints(toy_run) == reference(tmp_path, toy_config, 2027)


def test_restore_to_another_path_leaves_the_live_database_alone(
    tmp_path: Path, toy_config: Config, toy_run: Path
) -> None:
    before = tree_bytes(toy_run)
    other = tmp_path / "elsewhere" / "copy.duckdb"
    other.parent.mkdir()
    navsnap.restore(store=tmp_path / "store", db=toy_run, year=2025, to=other)
    assert tree_bytes(toy_run) == before
    assert table_fingerprints(other) == reference(tmp_path, toy_config, 2025)


def test_views_naming_the_original_catalog_work_after_restore_to(tmp_path: Path) -> None:
    db = tmp_path / "model.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE facts (simulation_year INTEGER, v INTEGER)")
    con.execute("INSERT INTO facts VALUES (2025, 1), (2025, 2)")
    con.execute("CREATE VIEW v3 AS SELECT sum(v) AS s FROM model.main.facts")
    con.execute('CREATE VIEW v2 AS SELECT count(*) AS n FROM "model".facts')
    con.close()
    cfg = navsnap.load_config(search_cwd=False)
    navsnap.checkpoint(db=db, year=2025, store=tmp_path / "store", config=cfg)
    out = tmp_path / "fixture.duckdb"
    navsnap.restore(store=tmp_path / "store", db=db, year=2025, to=out)
    con = duckdb.connect(str(out), read_only=True)
    assert con.execute("SELECT s FROM v3").fetchall() == [(3,)]
    assert con.execute("SELECT n FROM v2").fetchall() == [(2,)]
    con.close()


def test_restore_selected_tables(tmp_path: Path, toy_config: Config, toy_run: Path) -> None:
    con = duckdb.connect(str(toy_run))
    con.execute("DELETE FROM people WHERE person_id > 100")
    con.execute("INSERT INTO audit.log VALUES (2027, 'extra')")
    con.close()
    ref = reference(tmp_path, toy_config, 2027)
    if engine.REINSERTS_DELETED_KEYS:
        navsnap.restore(store=tmp_path / "store", db=toy_run, year=2027, tables=["people"])
        fp = table_fingerprints(toy_run)
        assert fp["main.people"] == ref["main.people"]
        assert fp["audit.log"] != ref["audit.log"]  # not named: left as it was
    else:  # people has a PRIMARY KEY: refused before anything changes
        before = tree_bytes(toy_run)
        with pytest.raises(RestoreError, match="cannot reload keyed rows in place"):
            navsnap.restore(store=tmp_path / "store", db=toy_run, year=2027, tables=["people"])
        assert tree_bytes(toy_run) == before
        navsnap.restore(store=tmp_path / "store", db=toy_run, year=2027, tables=["audit.log"])
        fp = table_fingerprints(toy_run)
        assert fp["audit.log"] == ref["audit.log"]
        assert fp["main.people"] != ref["main.people"]  # not named: left as it was
    only = tmp_path / "only.duckdb"
    navsnap.restore(store=tmp_path / "store", db=toy_run, year=2027, tables=["yearly"], to=only)
    assert set(table_fingerprints(only)) == {"main.yearly"}
    with pytest.raises(UsageError, match="not in snapshot"):
        navsnap.restore(store=tmp_path / "store", db=toy_run, year=2027, tables=["nosuch"])


def test_an_empty_table_list_is_refused_not_a_full_restore(tmp_path: Path, toy_run: Path) -> None:
    before = tree_bytes(tmp_path)
    with pytest.raises(UsageError, match="--tables names no table"):
        navsnap.restore(store=tmp_path / "store", db=toy_run, year=2025, tables=[])
    assert tree_bytes(tmp_path) == before


def test_dry_run_changes_nothing(tmp_path: Path, toy_run: Path) -> None:
    toy_run.write_bytes(b"garbage" * 1000)
    before = tree_bytes(tmp_path)
    report = navsnap.restore(store=tmp_path / "store", db=toy_run, year=2026, dry_run=True)
    assert report.plan.strategy == "full" and report.plan.bytes_to_read > 0
    assert tree_bytes(tmp_path) == before


def test_corrupt_object_is_named_and_nothing_changes(tmp_path: Path, toy_run: Path) -> None:
    store = open_store(tmp_path / "store")
    snap = resolve(store, year=2026)
    victim = snap.table("yearly").partitions[1].object.key
    path = store.local_path(victim)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    toy_run.write_bytes(b"broken")
    before = tree_bytes(tmp_path)
    with pytest.raises(IntegrityError) as info:
        navsnap.restore(store=store, db=toy_run, year=2026)
    assert victim in info.value.one_line() and snap.snapshot_id in info.value.one_line()
    assert tree_bytes(tmp_path) == before


def test_whole_file_mode_round_trip(tmp_path: Path, toy_config: Config) -> None:
    db = tmp_path / "sim.duckdb"
    cfg = navsnap.load_config(
        overrides={"run.step": "toy_pipeline:step", "snapshot.mode": "file"}, search_cwd=False
    )
    navsnap.run(cfg, db=db, years=(2025, 2026), store=str(tmp_path / "store"))
    snaps, _ = navsnap.list_snapshots(tmp_path / "store")
    assert [s.mode for s in snaps] == ["file", "file"]
    assert all(s.copy_method in ("copy", "reflink") for s in snaps)
    m = read_all(open_store(tmp_path / "store"))[0][0]
    assert m.file is not None and m.table("yearly").rows == 200
    db.write_bytes(b"garbage")
    navsnap.restore(store=tmp_path / "store", db=db, year=2025)
    assert table_fingerprints(db) == reference(tmp_path, toy_config, 2025)


def test_whole_file_mode_compressed(tmp_path: Path, toy_config: Config) -> None:
    db = tmp_path / "sim.duckdb"
    cfg = navsnap.load_config(
        overrides={
            "run.step": "toy_pipeline:step",
            "snapshot.mode": "file",
            "snapshot.file_compression": True,
        },
        search_cwd=False,
    )
    navsnap.run(cfg, db=db, years=(2025, 2025), store=str(tmp_path / "store"))
    m = read_all(open_store(tmp_path / "store"))[0][0]
    assert m.file is not None and m.file.compressed and m.file.object.key.endswith(".zst")
    assert m.file.object.size < m.file.raw_size
    navsnap.restore(store=tmp_path / "store", db=db, year=2025, to=tmp_path / "back.duckdb")
    assert table_fingerprints(tmp_path / "back.duckdb") == reference(tmp_path, toy_config, 2025)


def _db_with(tmp_path: Path, name: str, *sql: str) -> Path:
    db = tmp_path / name
    con = duckdb.connect(str(db))
    for stmt in sql:
        con.execute(stmt)
    con.close()
    return db


def test_empty_global_table_restores_in_place(tmp_path: Path) -> None:
    db = _db_with(
        tmp_path, "m.duckdb",
        "CREATE TABLE g (x INTEGER)",
        "CREATE TABLE f (simulation_year INTEGER, v INTEGER)",
        "INSERT INTO f VALUES (2025, 1), (2025, 2)",
    )  # fmt: skip
    cfg = navsnap.load_config(search_cwd=False)
    navsnap.checkpoint(db=db, year=2025, store=tmp_path / "s", config=cfg)
    assert navsnap.restore(store=tmp_path / "s", db=db, year=2025).plan.strategy == "none"
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO g VALUES (1)")
    con.execute("DELETE FROM f WHERE v = 2")
    con.close()
    report = navsnap.restore(store=tmp_path / "s", db=db, year=2025)
    assert report.plan.strategy == "delta"
    assert table_fingerprints(db)["main.g"] == (0, "0")
    assert table_fingerprints(db)["main.f"][0] == 2


def test_tables_in_place_never_swaps_in_a_partial_database(tmp_path: Path, toy_run: Path) -> None:
    con = duckdb.connect(str(toy_run))
    con.execute("ALTER TABLE people ADD COLUMN extra INTEGER")
    con.close()
    before = tree_bytes(toy_run)
    with pytest.raises(navsnap.RestoreError, match="cannot restore only people in place"):
        navsnap.restore(store=tmp_path / "store", db=toy_run, year=2027, tables=["people"])
    assert tree_bytes(toy_run) == before


def test_view_sql_naming_a_table_like_the_database_is_kept(tmp_path: Path) -> None:
    db = _db_with(
        tmp_path, "census.duckdb",
        "CREATE TABLE census (simulation_year INTEGER, id INTEGER)",
        "INSERT INTO census VALUES (2025, 7)",
        "CREATE VIEW v AS SELECT census.id, 'see census.main.t' AS note FROM census",
    )  # fmt: skip
    cfg = navsnap.load_config(search_cwd=False)
    navsnap.checkpoint(db=db, year=2025, store=tmp_path / "s", config=cfg)
    for out in (tmp_path / "other.duckdb", db):
        if out == db:
            db.write_bytes(b"broken")
        navsnap.restore(store=tmp_path / "s", db=db, year=2025, to=out if out != db else None)
        con = duckdb.connect(str(out), read_only=True)
        assert con.execute("SELECT id, note FROM v").fetchall() == [(7, "see census.main.t")]
        con.close()


def test_explicit_indexes_survive_a_full_restore(tmp_path: Path) -> None:
    db = _db_with(
        tmp_path, "i.duckdb",
        "CREATE TABLE t (simulation_year INTEGER, code VARCHAR)",
        "INSERT INTO t VALUES (2025, 'a'), (2025, 'b')",
        "CREATE UNIQUE INDEX t_code ON t (code)",
    )  # fmt: skip
    cfg = navsnap.load_config(search_cwd=False)
    m = navsnap.checkpoint(db=db, year=2025, store=tmp_path / "s", config=cfg)
    assert ("index", "t_code") in [(d.kind, d.name) for d in m.ddl]
    out = tmp_path / "r.duckdb"
    navsnap.restore(store=tmp_path / "s", db=db, year=2025, to=out)
    con = duckdb.connect(str(out))
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO t VALUES (2025, 'a')")
    con.close()


@contextlib.contextmanager
def _held_open(db: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``db`` open read-write (DuckDB's lock on the file)."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('ok', flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        time.sleep(0.1)


def test_status_of_a_database_a_navsnap_writer_holds_names_its_lock(
    tmp_path: Path, toy_run: Path
) -> None:
    """A navsnap writer (its owner file beside the database, its process alive) holds the
    file open: status says so as restore and checkpoint do (LockHeld, exit 11, naming the
    holder), not "open in another process" (exit 4), which stays for other programs."""
    import json
    import socket

    from conftest import invoke

    owner = toy_run.with_name(toy_run.name + ".navsnap.lock.json")
    with _held_open(toy_run) as holder:
        status = ("status", "--deep", "--step", "toy_pipeline:step", "--db", str(toy_run))
        code, _out, err = invoke(*status, "--store", str(tmp_path / "store"))
        assert code == 4 and "open in another process" in err, err
        owner.write_text(
            json.dumps({"pid": holder.pid, "host": socket.gethostname(),
                        "started": "2026-12-02T00:00:00+00:00", "purpose": "navsnap run"})
        )  # fmt: skip
        code, _out, err = invoke(*status, "--store", str(tmp_path / "store"))
        owner.unlink()
        assert code == 11 and f"pid {holder.pid}" in err and "navsnap run" in err, err


def test_a_database_open_in_another_process_is_not_restored_over(
    tmp_path: Path, toy_run: Path
) -> None:
    with _held_open(toy_run):
        before = tree_bytes(toy_run)
        with pytest.raises(navsnap.DatabaseError, match="open in another process"):
            navsnap.restore(store=tmp_path / "store", db=toy_run, year=2026)
        assert tree_bytes(toy_run) == before
        assert not [p for p in tmp_path.iterdir() if "before-restore" in p.name]
