from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import table_fingerprints, tree_bytes

import navsnap
from navsnap.config import Config
from navsnap.errors import (
    DatabaseError,
    FormatVersionError,
    IntegrityError,
    StoreError,
)
from navsnap.index import read_all
from navsnap.lineage import config_block
from navsnap.manifest import FORMAT_VERSION, Manifest
from navsnap.store import open_store


def toy_run(
    tmp_path: Path, config: Config, years: str = "2025-2027", **kw: object
) -> navsnap.RunReport:
    return navsnap.run(
        config,
        db=tmp_path / "sim.duckdb",
        years=navsnap.parse_years(years),
        store=str(tmp_path / "store"),
        **kw,  # type: ignore[arg-type]
    )


def test_every_table_partition_and_schema_object_is_in_the_manifest(
    tmp_path: Path, toy_config: Config
) -> None:
    report = toy_run(tmp_path, toy_config)
    assert [y.year for y in report.years_run] == [2025, 2026, 2027]
    manifests, broken = read_all(open_store(tmp_path / "store"))
    assert broken == [] and [m.year for m in manifests] == [2025, 2026, 2027]
    last = manifests[-1]
    assert {t.name for t in last.tables} == {"dim_region", "people", "yearly", "audit.log"}
    yearly = last.table("yearly")
    assert yearly.year_column == "simulation_year"
    assert [p.year.to_json() for p in yearly.partitions] == ["2025", "2026", "2027"]
    assert all(p.rows == 200 for p in yearly.partitions)
    assert last.table("people").year_column is None
    assert last.table("people").partitions[0].year.is_global
    assert "PRIMARY KEY" in last.table("people").ddl and "CHECK" in last.table("people").ddl
    assert last.table("people").depends_on == ("dim_region",)
    kinds = [(d.kind, d.name) for d in last.ddl]
    assert ("sequence", "seq_event") in kinds and ("view", "v_pay2") in kinds
    assert kinds.index(("view", "v_pay")) < kinds.index(("view", "v_pay2"))
    assert last.config.hash == config_block(toy_config)["hash"]
    assert last.config.identity["run.step"] == "toy_pipeline:step"
    assert last.duckdb_version == duckdb.__version__ and last.format_version == FORMAT_VERSION
    # the recorded fingerprints are those of the live rows
    con = duckdb.connect(str(tmp_path / "sim.duckdb"), read_only=True)
    row = con.execute(
        "SELECT count(*), sum(hash(t)::HUGEINT)::VARCHAR FROM yearly t WHERE simulation_year = 2026"
    ).fetchone()
    assert row is not None
    n, h = row
    con.close()
    assert yearly.partitions[1].fingerprint.as_str() == f"{n}:{h}"


def test_objects_are_named_by_their_hash_and_shared_across_years(
    tmp_path: Path, toy_config: Config
) -> None:
    toy_run(tmp_path, toy_config)
    store = open_store(tmp_path / "store")
    manifests, _ = read_all(store)
    for m in manifests:
        for obj in m.objects():
            digest, size = store.hash_object(obj.key)
            assert (digest, size) == (obj.xxh3, obj.size)
            assert digest in obj.key
    first, last = manifests[0], manifests[-1]
    assert first.table("yearly").partitions[0].object == last.table("yearly").partitions[0].object
    assert last.table("yearly").partitions[0].reused
    assert not last.table("yearly").partitions[-1].reused
    unique = {o.key for m in manifests for o in m.objects()}
    assert len(store.list_files("objects")) == len(unique)
    assert last.new_bytes < last.total_bytes


def test_snapshot_is_readable_as_plain_parquet(tmp_path: Path, toy_config: Config) -> None:
    toy_run(tmp_path, toy_config)
    store = open_store(tmp_path / "store")
    last = read_all(store)[0][-1]
    files = [str(store.local_path(p.object.key)) for p in last.table("yearly").partitions]
    rel = duckdb.sql(f"SELECT count(*) FROM read_parquet({files})")
    assert rel is not None
    assert rel.fetchall() == [(600,)]


def test_manifest_integrity_and_version_are_checked(tmp_path: Path, toy_config: Config) -> None:
    toy_run(tmp_path, toy_config, years="2025-2025")
    store = open_store(tmp_path / "store")
    m = read_all(store)[0][0]
    raw = json.loads(m.to_json())
    raw["year"] = 2031
    with pytest.raises(IntegrityError, match="integrity"):
        Manifest.from_json(json.dumps(raw).encode())
    raw = json.loads(m.to_json())
    raw["format_version"] = FORMAT_VERSION + 1
    with pytest.raises(FormatVersionError):
        Manifest.from_json(json.dumps(raw).encode())
    with pytest.raises(IntegrityError, match="not valid JSON"):
        Manifest.from_json(m.to_json()[:-20])
    assert Manifest.from_json(m.to_json()) == m


def test_checkpoint_never_changes_the_database(tmp_path: Path, toy_config: Config) -> None:
    db = tmp_path / "sim.duckdb"
    navsnap.run(toy_config, db=db, years=(2025, 2026), snapshots=False)
    before = tree_bytes(db)
    m = navsnap.checkpoint(db=db, year=2026, store=tmp_path / "store", config=toy_config)
    assert tree_bytes(db) == before
    assert m.year == 2026 and m.table("yearly").rows == 400
    again = navsnap.checkpoint(db=db, year=2026, store=tmp_path / "store", config=toy_config)
    assert all(p.reused for t in again.tables for p in t.partitions)
    assert again.new_bytes == 0


def test_checkpoint_bad_inputs_write_nothing(tmp_path: Path, toy_config: Config) -> None:
    store = tmp_path / "store"
    with pytest.raises(DatabaseError, match="does not exist"):
        navsnap.checkpoint(db=tmp_path / "nope.duckdb", year=2025, store=store, config=toy_config)
    plain = tmp_path / "plain.duckdb"
    con = duckdb.connect(str(plain))
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    with pytest.raises(DatabaseError, match="no table with the year column"):
        navsnap.checkpoint(db=plain, year=2025, store=store, config=toy_config)
    assert not store.exists()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        navsnap.checkpoint(db=plain, year=2025, store=tmp_path / "afile", config=toy_config)
    with pytest.raises(StoreError, match="unknown store scheme"):
        navsnap.checkpoint(db=plain, year=2025, store="ftp2://x/y", config=toy_config)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    db = tmp_path / "sim.duckdb"
    navsnap.run(toy_config, db=db, years=(2025, 2025), snapshots=False)
    with pytest.raises(StoreError, match="not a navsnap store"):
        navsnap.checkpoint(db=db, year=2025, store=foreign, config=toy_config)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_store_of_a_newer_format_is_refused(tmp_path: Path, toy_config: Config) -> None:
    store = tmp_path / "store"
    store.mkdir()
    (store / "navsnap-store.json").write_text('{"format": "navsnap-store", "version": 99}')
    before = tree_bytes(store)
    db = tmp_path / "sim.duckdb"
    with pytest.raises(FormatVersionError, match="format version 99") as info:
        navsnap.run(toy_config, db=db, years=(2025, 2025), store=str(store))
    assert "upgrade navsnap" in info.value.one_line()
    assert tree_bytes(store) == before
    assert not db.exists()


def test_memory_store(tmp_path: Path, toy_config: Config) -> None:
    url = f"memory://navsnap-test-{tmp_path.name}"
    toy_run_report = navsnap.run(
        toy_config, db=tmp_path / "sim.duckdb", years=(2025, 2026), store=url
    )
    assert len(toy_run_report.years_run) == 2
    snaps, broken = navsnap.list_snapshots(url)
    assert [s.year for s in snaps] == [2025, 2026] and broken == []
    navsnap.restore(store=url, db=tmp_path / "sim.duckdb", year=2025, to=tmp_path / "r.duckdb")
    fp = table_fingerprints(tmp_path / "r.duckdb")
    assert fp["main.yearly"][0] == 200


def test_leftover_temporary_files_are_cleaned(tmp_path: Path, toy_config: Config) -> None:
    toy_run(tmp_path, toy_config, years="2025-2025")
    tmp = tmp_path / "store" / "tmp"
    dead = tmp / "stage-999999-abc"
    dead.mkdir(parents=True)
    (dead / "x.parquet").write_bytes(b"partial")
    (tmp / "part-999999-deadbeef").write_bytes(b"partial")
    navsnap.checkpoint(
        db=tmp_path / "sim.duckdb", year=2025, store=tmp_path / "store", config=toy_config
    )
    assert not dead.exists() and not (tmp / "part-999999-deadbeef").exists()


@pytest.mark.parametrize("side", [False, True], ids=["one-cursor", "second-cursor"])
def test_overlapped_snapshot_sees_the_year_end_not_later_writes(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch, side: bool
) -> None:
    """start() pins the state; writes made before finish() are not in the snapshot. With
    ``side``, every export and the catalog run on the second cursor, which start() pins too."""
    from navsnap import snapshot
    from navsnap.snapshot import SnapshotJob

    db = tmp_path / "sim.duckdb"
    navsnap.run(toy_config, db=db, years=(2025, 2026), snapshots=False)
    expected = table_fingerprints(db)
    con = duckdb.connect(str(db))
    con.execute("SET threads = 2")
    if side:
        real = SnapshotJob._copy

        def on_side(self: Any, cur: Any, i: int, table: Any, part: Any) -> Path:
            assert self.side is not None
            return real(self, self.side, i, table, part)

        monkeypatch.setattr(SnapshotJob, "_copy", on_side)
        monkeypatch.setattr(snapshot, "_PARALLEL_ROWS", -1)  # one COPY at a time
    job = _job(
        con, tmp_path / "store", toy_config, year=2026, run_id="pin", db_path=db, parallel=side
    )
    con.execute("INSERT INTO yearly (simulation_year, person_id, pay) VALUES (2027, 1, 1)")
    con.execute("DELETE FROM people WHERE person_id = 7")
    manifest = job.finish()
    con.close()
    assert [str(p.year) for p in manifest.table("yearly").partitions] == ["2025", "2026"]
    assert manifest.table("people").rows == 200
    navsnap.restore(store=tmp_path / "store", db=db, snapshot="pin-2026", to=tmp_path / "r.duckdb")
    assert table_fingerprints(tmp_path / "r.duckdb") == expected


@pytest.mark.parametrize("side", [False, True], ids=["one-cursor", "second-cursor"])
def test_overlapped_snapshot_keeps_the_year_end_schema_objects_and_sequences(
    tmp_path: Path, toy_config: Config, side: bool
) -> None:
    """finish() reads the schema objects and comments off the caller's thread: the next
    year's DDL (macros, views, types, schemas, indexes, comments dropped, made or changed)
    must not reach the snapshot, nor its nextval() the sequences, whose values DuckDB does
    not keep per transaction (start() reads them). Core: every supported DuckDB."""
    # With ``side`` the catalog is read on the second cursor.
    from navsnap.catalog import list_comments, list_objects

    db = tmp_path / "sim.duckdb"
    navsnap.run(toy_config, db=db, years=(2025, 2026), snapshots=False)
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE SCHEMA aux; CREATE TYPE mood AS ENUM ('ok', 'sad'); "
        "CREATE SEQUENCE ids START 10; SELECT nextval('ids'); "
        "CREATE MACRO twice(x) AS x * 2; CREATE VIEW v AS SELECT twice(1) AS two; "
        "CREATE INDEX by_pay ON yearly(pay); COMMENT ON TABLE people IS 'year end'; "
        "COMMENT ON MACRO twice IS 'doubles'"
    )
    expected = (list_objects(con), list_comments(con))
    con.execute("SET threads = 2")
    job = _job(
        con, tmp_path / "store", toy_config, year=2026, run_id="pin", db_path=db, parallel=side
    )
    assert (job.side is not None) == side  # with it, the catalog is read on the second cursor
    con.execute(
        "SELECT nextval('ids'), nextval('ids'); DROP VIEW v; DROP MACRO twice; "
        "CREATE MACRO thrice(x) AS x * 3; CREATE VIEW w AS SELECT 3 AS three; DROP INDEX by_pay; "
        "CREATE SCHEMA later; DROP TYPE mood; CREATE TYPE size AS ENUM ('s'); "
        "COMMENT ON TABLE people IS 'next year'; CREATE SEQUENCE more"
    )
    manifest = job.finish()
    con.close()
    assert (list(manifest.ddl), list(manifest.comments)) == expected
    # The year end's sequence: handed out 10, so created at 10 and advanced once on restore.
    (ids,) = [d for d in manifest.ddl if d.kind == "sequence" and d.name == "ids"]
    assert " START 10 " in ids.sql and ids.used
    navsnap.restore(store=tmp_path / "store", db=db, snapshot="pin-2026", to=tmp_path / "r.duckdb")
    with duckdb.connect(str(tmp_path / "r.duckdb")) as r:
        assert r.execute("SELECT nextval('ids'), twice(2) FROM v").fetchone() == (11, 4)


def test_a_macro_the_next_step_replaces_is_not_asked_about_defaults(
    tmp_path: Path, toy_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    """The check for parameter defaults binds calls on the database as it stands when the
    snapshot reads its catalog: a macro the next year's step dropped or replaced since the
    year end cannot be asked, and is stored as listed, with a warning naming it."""
    db = tmp_path / "sim.duckdb"
    navsnap.run(toy_config, db=db, years=(2025, 2026), snapshots=False)
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE MACRO kept(x, y) AS x + y; CREATE MACRO gone(x, y := 1) AS x + y;"
        "CREATE MACRO swapped(x, y) AS x + y"
    )
    job = _job(con, tmp_path / "store", toy_config, year=2026, run_id="rep", db_path=db)
    # Dropped, and replaced by one with a default (never refused for its replacement).
    con.execute("DROP MACRO gone; CREATE OR REPLACE MACRO swapped(x, y := 1) AS x + y")
    with caplog.at_level("WARNING", logger="navsnap.snapshot"):
        manifest = job.finish()
    con.close()
    assert {"kept", "gone", "swapped"} <= {d.name for d in manifest.ddl if d.kind == "macro"}
    said = [r.getMessage() for r in caplog.records if "parameter defaults" in r.getMessage()]
    assert sorted(said) == [
        f'macro "main"."{name}" was not checked for parameter defaults: the next year\'s step '
        "dropped or replaced it while the snapshot was read"
        for name in ("gone", "swapped")
    ]


def _job(
    con: duckdb.DuckDBPyConnection,
    store: Path,
    config: Config,
    *,
    year: int = 2027,
    run_id: str = "par",
    **kw: Any,
) -> Any:
    """A SnapshotJob of ``con``'s database as the end of ``year``, started."""
    from navsnap.lineage import config_block
    from navsnap.snapshot import SnapshotJob, SnapshotOptions

    return SnapshotJob.start(
        con,
        store=open_store(store),
        year=year,
        run_id=run_id,
        config=config_block(config),
        options=SnapshotOptions(),
        **kw,
    )


def _content(m: Manifest) -> Any:
    tables = [
        (t.name, t.ddl, [(str(p.year), p.rows, p.fingerprint, p.object.xxh3) for p in t.partitions])
        for t in m.tables
    ]
    return tables, m.ddl, m.comments, m.validation


def test_a_parallel_snapshot_is_the_same_snapshot(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the CPU to itself (a checkpoint, a run's last year) a snapshot reads the catalog
    and exports small partitions on a second cursor pinned beside the first, a large one on
    its own: the manifest and every object are those of a one-cursor snapshot."""
    from navsnap import snapshot

    config = sim_config(employees=600)
    db = tmp_path / "sim.duckdb"
    navsnap.run(config, db=db, years=(2025, 2027), snapshots=False)
    used: list[tuple[int, int]] = []  # (cursor id, plan index) of every COPY
    real = snapshot.SnapshotJob._copy

    def copy(self: Any, cur: Any, i: int, table: Any, part: Any) -> Path:
        used.append((id(cur), i))
        return real(self, cur, i, table, part)

    monkeypatch.setattr(snapshot.SnapshotJob, "_copy", copy)
    monkeypatch.setattr(snapshot, "_PARALLEL_ROWS", 500)  # some partitions large, some small
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        one = _job(con, tmp_path / "one", config, parallel=False)
        assert one.side is None
        alone = one.finish()
        two = _job(con, tmp_path / "two", config, parallel=True)
        cursors = {id(two.cur), id(two.side)}
        used.clear()
        both = two.finish()
    assert {c for c, _ in used} == cursors  # the second cursor exported some
    assert _content(both) == _content(alone)
    sizes = [p.rows for t in both.tables for p in t.partitions]
    assert min(sizes) <= 500 < max(sizes)


def test_a_failed_parallel_export_leaves_no_snapshot(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A COPY failing on either cursor stops the snapshot: no manifest, no object left, every
    other COPY finished before the cursors close, and the database unchanged and usable."""
    from navsnap import snapshot
    from navsnap.errors import DatabaseError

    config = sim_config(employees=600)
    db = tmp_path / "sim.duckdb"
    navsnap.run(config, db=db, years=(2025, 2027), snapshots=False)
    before = table_fingerprints(db)
    real = snapshot.SnapshotJob._copy

    def copy(self: Any, cur: Any, i: int, table: Any, part: Any) -> Path:
        if cur is self.side:
            raise DatabaseError("disk gone")
        return real(self, cur, i, table, part)

    monkeypatch.setattr(snapshot.SnapshotJob, "_copy", copy)
    # No early exports: the second cursor is in the export phase from its start, so it
    # exports the second partition whatever the machine's load.
    monkeypatch.setattr(snapshot, "_EARLY_AHEAD", 0)
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        with pytest.raises(DatabaseError, match="disk gone"):
            _job(con, tmp_path / "store", config, parallel=True).finish()
        assert con.execute("SELECT count(*) FROM census").fetchone() is not None
    store = open_store(tmp_path / "store")
    assert store.manifest_ids() == []
    assert not list((tmp_path / "store" / "objects").rglob("*.parquet"))
    assert table_fingerprints(db) == before


def _built(tmp_path: Path, sim_config: Any) -> tuple[Path, Config]:
    config = sim_config(employees=600)
    db = tmp_path / "sim.duckdb"
    navsnap.run(config, db=db, years=(2025, 2027), snapshots=False)
    return db, config


def test_a_parallel_snapshot_stages_a_few_partitions_at_a_time(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COPYs run ahead of publishing by one per cursor at most, besides the few exported
    early: a slow store (an upload) must not leave every partition staged on the local disk
    (review of the second cursor: 25 of 28 were staged at once before)."""
    import time

    from navsnap import snapshot

    db, config = _built(tmp_path, sim_config)
    staged: list[int] = []
    real = snapshot._publish

    def slow_publish(store: Any, path: Path, ext: str) -> Any:
        staged.append(len(list(path.parent.glob("*.parquet"))))
        time.sleep(0.05)  # an upload; the bound holds whatever the delay
        return real(store, path, ext)

    monkeypatch.setattr(snapshot, "_publish", slow_publish)
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        manifest = _job(con, tmp_path / "store", config, parallel=True).finish()
    assert len(staged) == sum(1 for t in manifest.tables for p in t.partitions) > 6
    # The one being published, one ahead per cursor, and those exported early.
    assert max(staged) <= 3 + snapshot._EARLY_AHEAD


def test_a_parallel_snapshot_failing_to_publish_or_interrupted_leaves_nothing(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish failing while COPYs run, and Ctrl-C while the main thread waits for one
    (both cursors are interrupted: DuckDB sees Ctrl-C only on the main thread), stop the
    snapshot: no manifest, no snapshot thread left, the database usable, and after the
    failure no object (the objects published before a Ctrl-C are left to prune)."""
    import threading

    from navsnap import snapshot
    from navsnap.errors import StoreError

    db, config = _built(tmp_path, sim_config)
    before = table_fingerprints(db)
    real = snapshot._publish
    calls: list[int] = []

    def failing_publish(store: Any, path: Path, ext: str) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("store gone")
        return real(store, path, ext)

    class Recording:
        """A cursor that records interrupt()."""

        def __init__(self, inner: Any, log: list[str], name: str) -> None:
            self._inner, self._log, self._name = inner, log, name

        def interrupt(self) -> None:
            self._log.append(self._name)
            self._inner.interrupt()

        def __getattr__(self, attr: str) -> Any:
            return getattr(self._inner, attr)

    real_copy = snapshot.SnapshotJob._copy

    def interrupted_copy(self: Any, cur: Any, i: int, table: Any, part: Any) -> Path:
        if isinstance(i, int) and i >= 3:  # not an early export ("early")
            raise KeyboardInterrupt  # reaches the main thread through the future
        return real_copy(self, cur, i, table, part)

    store = tmp_path / "store"
    # No early exports: both cursors are the export phase's from its start, whatever the
    # machine's load (early exports: test_our_interrupt_of_an_early_export_is_not_the_error).
    monkeypatch.setattr(snapshot, "_EARLY_AHEAD", 0)
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        with monkeypatch.context() as m:
            m.setattr(snapshot, "_publish", failing_publish)
            with pytest.raises(StoreError, match="store gone"):
                _job(con, store, config, parallel=True).finish()
        assert not list((store / "objects").rglob("*.parquet"))  # removed again
        interrupts: list[str] = []
        with monkeypatch.context() as m:
            m.setattr(snapshot.SnapshotJob, "_copy", interrupted_copy)
            job = _job(con, store, config, parallel=True)
            job.cur, job.side = (
                Recording(job.cur, interrupts, "cur"),
                Recording(job.side, interrupts, "side"),
            )
            with pytest.raises(KeyboardInterrupt):
                job.finish()
        assert sorted(interrupts) == ["cur", "side"]
        assert con.execute("SELECT count(*) FROM census").fetchone() is not None
    assert not [t for t in threading.enumerate() if t.name.startswith("navsnap-snapshot")]
    # Ctrl-C leaves the objects it published, unreferenced, to prune (as with one cursor).
    assert open_store(store).manifest_ids() == []
    assert table_fingerprints(db) == before


class _Watch:
    """What a snapshot's early exports did (filled by :func:`_early`)."""

    def __init__(self) -> None:
        self.tables: list[str] = []  # the tables exported early
        self.staged: list[Path] = []  # their staged files
        self.published: list[str] = []  # the names of every staged file published
        self.left_at_commit: list[Path] = []  # early files still staged at the manifest
        self.overlaps = 0  # COPYs begun on a cursor another COPY was running on


def _early(
    monkeypatch: pytest.MonkeyPatch, *, fail: bool = False, late: bool = False, busy: bool = False
) -> _Watch:
    """Make the first cursor's fingerprints wait until the second cursor has exported a
    partition early (on a fast machine the fingerprints of a small database end before the
    catalog is read, and nothing is exported early), and watch what becomes of it.

    ``fail``: the early export fails inside DuckDB (a COPY to a folder that cannot exist),
    which also ends the second cursor's transaction. ``late``: the fingerprints wait only
    for the first early export to begin, and it waits for the export phase to start, so the
    export phase begins while the second cursor is still busy with it. ``busy`` (with
    ``late``): the early export then runs a query of seconds first, which only an interrupt
    ends early."""
    import threading

    import duckdb as ddb

    from navsnap import snapshot
    from navsnap.store import Store
    from navsnap.yearpass import table_pass as real_pass

    begun, exporting = threading.Event(), threading.Event()
    watch = _Watch()
    real_copy, real_exports = snapshot.SnapshotJob._copy, snapshot.SnapshotJob._exports
    real_publish, real_write = snapshot._publish, Store.write_manifest

    running: dict[int, int] = {}
    lock = threading.Lock()

    def copy(self: Any, cur: Any, i: Any, table: Any, part: Any) -> Path:
        with lock:
            running[id(cur)] = running.get(id(cur), 0) + 1
            watch.overlaps += running[id(cur)] > 1
        try:
            return watched(self, cur, i, table, part)
        finally:
            with lock:
                running[id(cur)] -= 1

    def watched(self: Any, cur: Any, i: Any, table: Any, part: Any) -> Path:
        if i != "early":
            return real_copy(self, cur, i, table, part)
        assert cur is self.side and str(part) == str(self.year)
        try:
            if late:
                begun.set()
                assert exporting.wait(timeout=60), "the export phase never started"
            if busy:
                cur.execute("SELECT sum(range) FROM range(5000000000)").fetchall()
            if fail:
                try:
                    cur.execute("COPY (SELECT 1) TO '/proc/navsnap-no-such/x.parquet'")
                except ddb.Error as exc:
                    raise snapshot._translate_duckdb(exc, "exporting early") from None
            staged = real_copy(self, cur, i, table, part)
            watch.tables.append(table.key)
            watch.staged.append(staged)
            return staged
        finally:
            begun.set()

    def exports(self: Any, *args: Any, **kwargs: Any) -> Any:
        exporting.set()
        return real_exports(self, *args, **kwargs)

    def table_pass(*args: Any, **kwargs: Any) -> Any:
        assert begun.wait(timeout=60), "nothing was exported early"
        return real_pass(*args, **kwargs)

    def publish(store: Any, path: Path, ext: str) -> Any:
        watch.published.append(path.name)
        return real_publish(store, path, ext)

    def write_manifest(store: Any, manifest: Any) -> Any:
        watch.left_at_commit += [p for p in watch.staged if p.exists()]
        return real_write(store, manifest)

    monkeypatch.setattr(snapshot.SnapshotJob, "_copy", copy)
    monkeypatch.setattr(snapshot.SnapshotJob, "_exports", exports)
    monkeypatch.setattr(snapshot, "table_pass", table_pass)
    monkeypatch.setattr(snapshot, "_publish", publish)
    monkeypatch.setattr(Store, "write_manifest", write_manifest)
    return watch


def test_partitions_exported_early_make_the_same_snapshot(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the first cursor fingerprints, the second exports the snapshot year's small
    partitions early (at most _EARLY_AHEAD), and those files are the ones published: the
    manifest and every object are those of a one-cursor snapshot."""
    from navsnap import snapshot

    db, config = _built(tmp_path, sim_config)
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        alone = _job(con, tmp_path / "one", config, parallel=False).finish()
        watch = _early(monkeypatch)
        both = _job(con, tmp_path / "two", config, parallel=True).finish()
    assert 1 <= len(watch.tables) <= snapshot._EARLY_AHEAD
    assert {p.name for p in watch.staged} <= set(watch.published)
    assert _content(both) == _content(alone)


def test_the_second_cursor_joins_the_export_phase_after_its_early_export(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export phase starts on the first cursor while the second still exports early;
    a large COPY, which takes both cursors, waits for the second to be done: the snapshot
    completes, and is the one-cursor one."""
    from navsnap import snapshot

    db, config = _built(tmp_path, sim_config)
    monkeypatch.setattr(snapshot, "_PARALLEL_ROWS", 1000)  # 2027's events are large
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        alone = _job(con, tmp_path / "one", config, parallel=False).finish()
        watch = _early(monkeypatch, late=True)
        both = _job(con, tmp_path / "two", config, parallel=True).finish()
    assert watch.tables and {p.name for p in watch.staged} <= set(watch.published)
    assert watch.overlaps == 0  # the second cursor joined only once its early export ended
    assert _content(both) == _content(alone)
    sizes = [p.rows for t in both.tables for p in t.partitions]
    assert min(sizes) <= 1000 < max(sizes)


def test_an_early_export_of_a_reused_partition_is_dropped(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second snapshot of the same state reuses every object: what it exported early is
    deleted before its manifest is written, and never published."""
    db, config = _built(tmp_path, sim_config)
    store = tmp_path / "store"
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        first = _job(con, store, config, run_id="a", parallel=True).finish()
        watch = _early(monkeypatch)
        again = _job(con, store, config, run_id="b", parallel=True).finish()
    assert watch.staged
    assert watch.published == [] and watch.left_at_commit == []
    assert all(p.reused for t in again.tables for p in t.partitions)
    assert _content(again) == _content(first)


def test_a_failed_early_export_fails_the_snapshot_with_its_own_error(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An early export failing inside DuckDB also ends the second cursor's transaction: the
    snapshot fails with the export's own error (not the aborted transaction's, which every
    later statement on that cursor reports), leaves no manifest and no object, and the
    database is unchanged and usable (review of the early exports: it failed with
    "Current transaction is aborted")."""
    from navsnap.errors import NavsnapError

    db, config = _built(tmp_path, sim_config)
    before = table_fingerprints(db)
    store = tmp_path / "store"
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        _early(monkeypatch, fail=True)
        with pytest.raises(NavsnapError, match="navsnap-no-such") as info:
            _job(con, store, config, parallel=True).finish()
        assert "aborted" not in str(info.value)
        assert con.execute("SELECT count(*) FROM census").fetchone() is not None
    assert open_store(store).manifest_ids() == []
    assert not list((store / "objects").rglob("*.parquet"))
    assert table_fingerprints(db) == before


@pytest.mark.parametrize("failure", ["publish", "ctrl-c"])
def test_our_interrupt_of_an_early_export_is_not_the_error(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    """The export phase failing (a store refusing a publish) or Ctrl-C while the second
    cursor still exports early: the snapshot interrupts that export, and fails with the
    export phase's own error (Ctrl-C stays KeyboardInterrupt), not with the interrupt's
    (second review of the early exports: 'store gone' came out as 'INTERRUPT Error')."""
    import time

    from navsnap import snapshot
    from navsnap.errors import StoreError

    db, config = _built(tmp_path, sim_config)
    watch = _early(monkeypatch, late=True, busy=True)
    copy_early = snapshot.SnapshotJob._copy

    def refused(store: Any, path: Path, ext: str) -> Any:
        raise StoreError("store gone")

    def interrupted(self: Any, cur: Any, i: Any, table: Any, part: Any) -> Path:
        if i == "early":
            return copy_early(self, cur, i, table, part)
        raise KeyboardInterrupt

    if failure == "publish":
        monkeypatch.setattr(snapshot, "_publish", refused)
        expected: type[BaseException] = StoreError
    else:
        monkeypatch.setattr(snapshot.SnapshotJob, "_copy", interrupted)
        expected = KeyboardInterrupt
    with duckdb.connect(str(db)) as con:
        con.execute("SET threads = 2")
        started = time.monotonic()
        with pytest.raises(expected) as info:
            _job(con, tmp_path / "store", config, parallel=True).finish()
        assert time.monotonic() - started < 60  # the query of seconds was interrupted
        assert con.execute("SELECT count(*) FROM census").fetchone() is not None
    assert "nterrupt" not in str(info.value)
    assert watch.published == [] and open_store(tmp_path / "store").manifest_ids() == []


def test_a_catalog_refusal_on_the_second_cursor_comes_before_any_export(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second cursor reads the catalog; a refusal there (a macro parameter default) is
    raised when the fingerprints end, before the export phase publishes anything (review of
    the early exports: every partition was published, then removed, before it surfaced)."""
    from navsnap import snapshot
    from navsnap.errors import DatabaseError

    db, config = _built(tmp_path, sim_config)
    published: list[str] = []
    real = snapshot._publish

    def publish(store: Any, path: Path, ext: str) -> Any:
        published.append(path.name)
        return real(store, path, ext)

    monkeypatch.setattr(snapshot, "_publish", publish)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE MACRO plus(x, y := 1) AS x + y")
        con.execute("SET threads = 2")
        job = _job(con, tmp_path / "store", config, parallel=True)
        assert job.side is not None
        with pytest.raises(DatabaseError, match="parameter default"):
            job.finish()
    assert published == []
    assert open_store(tmp_path / "store").manifest_ids() == []


@pytest.mark.parametrize("threads", [1, 2])
def test_a_checkpoint_uses_a_second_cursor_unless_run_threads_is_one(
    tmp_path: Path, sim_config: Any, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """navsnap.checkpoint applies ``[run] threads`` as a run does; one thread means one
    query at a time, so no second cursor. (Which cursor exports what depends on timing: the
    second may still read the catalog when the first has exported everything, as on a
    loaded CI machine; what is checked is whether the second was pinned and the catalog
    read on it.)"""
    from navsnap import snapshot

    config = sim_config(600, **{"run.threads": threads})
    db = tmp_path / "sim.duckdb"
    navsnap.run(config, db=db, years=(2025, 2027), snapshots=False)
    seen: list[bool] = []
    real = snapshot.SnapshotJob._read_catalog

    def read_catalog(self: Any, cur: Any) -> None:
        seen.append(cur is self.side and cur is not None)
        real(self, cur)

    monkeypatch.setattr(snapshot.SnapshotJob, "_read_catalog", read_catalog)
    navsnap.checkpoint(db=db, year=2027, store=tmp_path / "store", config=config)
    assert seen == [threads == 2]


def test_a_damaged_shared_object_is_not_reused_and_gets_repaired(
    tmp_path: Path, toy_config: Config
) -> None:
    toy_run(tmp_path, toy_config, years="2025-2026")
    store = open_store(tmp_path / "store")
    shared = read_all(store)[0][-1].table("people").partitions[0].object
    path = store.local_path(shared.key)
    path.write_bytes(path.read_bytes()[:100])  # truncated: every snapshot now references it
    again = navsnap.checkpoint(
        db=tmp_path / "sim.duckdb", year=2026, store=store, config=toy_config, run_id="again"
    )
    part = again.table("people").partitions[0]
    assert not part.reused  # re-exported, not pointed at the damaged object
    assert store.hash_object(part.object.key) == (part.object.xxh3, part.object.size)
    if part.object == shared:  # DuckDB wrote the same bytes: the old object is repaired
        assert store.hash_object(shared.key) == (shared.xxh3, shared.size)


def test_a_store_whose_creation_was_killed_is_still_usable(
    tmp_path: Path, toy_config: Config
) -> None:
    """Killed while writing the store marker: only tmp/ exists. That is not a foreign dir."""
    store = tmp_path / "store"
    (store / "tmp").mkdir(parents=True)
    (store / "tmp" / "part-999999-0123").write_bytes(b'{"format": "navs')
    report = toy_run(tmp_path, toy_config, years="2025-2025")
    assert report.years_run[0].snapshot_id is not None
    assert not (store / "tmp" / "part-999999-0123").exists()
    foreign = tmp_path / "foreign"
    (foreign / "tmp").mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not a navsnap store"):
        navsnap.checkpoint(db=tmp_path / "sim.duckdb", year=2025, store=foreign, config=toy_config)
