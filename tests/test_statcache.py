"""The stat cache beside a database: ``status`` trusts it only while the file is unchanged.

Every test checks the answer against a full scan (``deep``): a record may save work, never
change an answer. ``RACY_NS`` is set to 0 where a test needs a record trusted right after the
file was written (the margin is what makes a just-written file untrusted; one test keeps it).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import TOY_STEP, invoke_at

import navsnap
from navsnap import manifest_check, statcache
from navsnap.config import Config
from navsnap.errors import IntegrityError
from navsnap.resume import plan_resume
from navsnap.store import open_store

YEARS = (2025, 2026)


@pytest.fixture
def no_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(statcache, "RACY_NS", 0)


def _settle() -> None:
    """Past the filesystem's timestamp tick, so the check's clock is after the file's ctime."""
    time.sleep(0.05)


def _run(tmp_path: Path, config: Config) -> tuple[Path, str]:
    db = tmp_path / "sim.duckdb"
    store = str(tmp_path / "store")
    navsnap.run(config, db=db, years=YEARS, store=store)
    # The run's own record (tests/test_statcache_writer.py) is removed: these tests start
    # from what a check records.
    statcache.cache_path(db).unlink()
    _settle()
    return db, store


def _status(config: Config, db: Path, store: str, *, deep: bool = False) -> navsnap.ResumeDecision:
    return navsnap.status(config, db=db, years=YEARS, store=store, deep=deep)


def _cached(tmp_path: Path, config: Config) -> tuple[Path, str]:
    """A finished run whose match is recorded (one scanning status)."""
    db, store = _run(tmp_path, config)
    first = _status(config, db, store)
    assert first.action == "complete" and not first.from_cache
    assert statcache.cache_path(db).is_file()
    return db, store


def _cached_head(tmp_path: Path, config: Config) -> tuple[str, statcache.Cached, navsnap.Manifest]:
    """A run's store with the run's record written, the record as loaded, and the newest
    snapshot."""
    db, store = _cached(tmp_path, config)
    cached = statcache.load(db, engine=duckdb.__version__)
    assert cached is not None
    return store, cached, navsnap.show(store, "latest", db=db)


def test_second_status_comes_from_the_record_and_deep_scans(
    tmp_path: Path, toy_config: Config, no_margin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, store = _cached(tmp_path, toy_config)
    scans: list[str] = []
    plan_mod = importlib.import_module("navsnap.restore.plan")
    real = plan_mod.plan_restore

    def scanning(*a: Any, **k: Any) -> Any:
        scans.append("scan")
        return real(*a, **k)

    monkeypatch.setattr(plan_mod, "plan_restore", scanning)
    again = _status(toy_config, db, store)
    assert again.from_cache and scans == []
    deep = _status(toy_config, db, store, deep=True)
    assert not deep.from_cache and scans == ["scan"]
    assert (again.action, again.snapshot) == (deep.action, deep.snapshot)
    (tmp_path / "navsnap.toml").write_text(f'[run]\nstep = "{TOY_STEP}"\nyears = "2025-2026"\n')
    out = invoke_at("status", "--json", "--db", "sim.duckdb", "--store", store, cwd=tmp_path)
    assert json.loads(out.stdout)["from_cache"] is True, out.stderr
    out = invoke_at(
        "status", "--json", "--no-cache", "--db", "sim.duckdb", "--store", store, cwd=tmp_path
    )
    assert json.loads(out.stdout)["from_cache"] is False, out.stderr
    assert not list(tmp_path.glob(".sim.duckdb.navsnap-stat-*")), "a temporary file was left"


def test_a_changed_database_is_scanned(tmp_path: Path, toy_config: Config, no_margin: None) -> None:
    db, store = _cached(tmp_path, toy_config)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM yearly WHERE simulation_year = 2026 AND person_id = 1")
    con.close()
    _settle()
    after = _status(toy_config, db, store)
    assert not after.from_cache and after.action == "restore"


def test_a_same_size_edit_with_mtime_put_back_is_caught_by_ctime(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    db, store = _cached(tmp_path, toy_config)
    before = os.stat(db)
    with open(db, "r+b") as fh:  # garbage over the middle of the file, same size
        fh.seek(before.st_size // 2)
        fh.write(b"\xff" * 4096)
    os.utime(db, ns=(before.st_atime_ns, before.st_mtime_ns))
    after_stat = os.stat(db)
    assert (after_stat.st_size, after_stat.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    _settle()
    assert not _status(toy_config, db, store).from_cache


def test_a_wal_or_a_running_writer_means_scan(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    db, store = _cached(tmp_path, toy_config)
    assert _status(toy_config, db, store).from_cache
    lock_info = db.with_name(db.name + ".navsnap.lock.json")
    lock_info.write_text("{}")
    assert statcache.load(db, engine=duckdb.__version__) is None
    lock_info.unlink()
    wal = db.with_name(db.name + ".wal")
    wal.write_bytes(b"")
    assert statcache.load(db, engine=duckdb.__version__) is None
    wal.unlink()
    assert statcache.load(db, engine=duckdb.__version__)


def test_a_racily_clean_file_is_not_trusted(tmp_path: Path, toy_config: Config) -> None:
    # The real margin: the run wrote the file moments ago, so the record is written but a
    # file changed so close to its check is never trusted (a later write could share its
    # timestamps).
    db, store = _run(tmp_path, toy_config)
    assert not _status(toy_config, db, store).from_cache
    assert statcache.cache_path(db).is_file()
    assert not _status(toy_config, db, store).from_cache


def _record(db: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(statcache.cache_path(db).read_text())
    return data


@pytest.mark.parametrize(
    "damage",
    [
        "garbage",
        "truncated",
        "bool-for-int",
        "extra-key",
        "other-version",
        "other-engine",
        "other-year-column",
        "huge",
        "other-manifest",
        "no-matches",
        "parsed-not-a-digest",
        "object-bool",
    ],
)
def test_a_damaged_or_foreign_record_means_scan(
    tmp_path: Path, toy_config: Config, no_margin: None, damage: str
) -> None:
    db, store = _cached(tmp_path, toy_config)
    path = statcache.cache_path(db)
    rec = _record(db)
    raw = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"\x00not json")
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "bool-for-int":
        assert isinstance(rec["file"], dict)
        rec["file"]["size"] = True
        path.write_text(json.dumps(rec))
    elif damage == "extra-key":
        path.write_text(json.dumps({**rec, "trust": "me"}))
    elif damage == "other-version":
        path.write_text(json.dumps({**rec, "version": 2}))
    elif damage == "other-engine":
        path.write_text(json.dumps({**rec, "engine": "0.9.0"}))
    elif damage == "other-year-column":
        path.write_text(json.dumps({**rec, "year_column": "year"}))
    elif damage == "huge":
        path.write_bytes(raw[:-1] + b" " * statcache.MAX_BYTES + b"}")
    elif damage == "other-manifest":
        assert isinstance(rec["matches"], list)
        rec["matches"] = [{**m, "manifest": "0" * 32} for m in rec["matches"]]
        path.write_text(json.dumps(rec))
    elif damage == "no-matches":
        path.write_text(json.dumps({**rec, "matches": []}))
    elif damage == "parsed-not-a-digest":
        path.write_text(json.dumps({**rec, "parsed": ["DROP TABLE yearly"]}))
    elif damage == "object-bool":
        assert isinstance(rec["objects"], dict) and rec["objects"]
        key = next(iter(rec["objects"]))
        path.write_text(json.dumps({**rec, "objects": {key: True}}))
    decision = _status(toy_config, db, store)
    assert not decision.from_cache
    assert decision.action == "complete"


@pytest.mark.parametrize("install", ["no-metadata", "two-metadata", "not-found"])
def test_the_engine_key_falls_back_to_the_running_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, install: str
) -> None:
    """Where the installed DuckDB's version cannot be read from one wheel metadata file, the
    record is keyed on ``duckdb.__version__``: never on a guess."""
    site = tmp_path / "site"
    (site / "duckdb").mkdir(parents=True)
    (site / "duckdb" / "__init__.py").write_text("")
    if install == "two-metadata":
        for version in ("0.9.0", "0.9.1"):
            info = site / f"duckdb-{version}.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nVersion: {version}\n")
    spec = importlib.util.spec_from_file_location("duckdb", site / "duckdb" / "__init__.py")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if install == "not-found" else spec
    )
    statcache.engine_key.cache_clear()
    try:
        assert statcache.engine_key() == duckdb.__version__
        info = site / "duckdb-0.9.2.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: duckdb\nVersion: 0.9.2\n")
        statcache.engine_key.cache_clear()
        expected = {"no-metadata": "0.9.2", "two-metadata": duckdb.__version__}
        assert statcache.engine_key() == expected.get(install, duckdb.__version__)
    finally:
        statcache.engine_key.cache_clear()


def test_a_record_for_another_file_is_not_used(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    db, store = _cached(tmp_path, toy_config)
    copy = db.with_name("copy.duckdb")
    copy.write_bytes(db.read_bytes())
    os.replace(copy, db)  # same bytes, another inode
    _settle()
    assert not _status(toy_config, db, store).from_cache


def test_resume_never_trusts_the_record(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    # A record that lies (forged for the changed file) fools status, which trusts it by
    # design, but not run --resume, which always fingerprints.
    db, store = _cached(tmp_path, toy_config)
    rec = _record(db)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM yearly WHERE simulation_year = 2026 AND person_id = 1")
    con.close()
    _settle()
    ident = statcache.FileIdentity.of(db)
    assert ident is not None
    rec["file"] = ident.to_dict()
    rec["checked_at_ns"] = time.time_ns()
    statcache.cache_path(db).write_text(json.dumps(rec))
    assert _status(toy_config, db, store).from_cache
    decision = plan_resume(open_store(store), toy_config, db_path=db, years=YEARS)
    assert decision.action == "restore" and not decision.from_cache


def test_the_record_names_the_manifest_not_only_its_id(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    _store, cached, head = _cached_head(tmp_path, toy_config)
    assert cached.holds(head)
    assert not cached.holds(dataclasses.replace(head, created_at="2000-01-01T00:00:00+00:00"))


def test_resume_records_the_match_it_found(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    db, store = _run(tmp_path, toy_config)
    assert not statcache.cache_path(db).exists()
    decision = plan_resume(open_store(store), toy_config, db_path=db, years=YEARS)
    assert decision.action == "complete" and not decision.from_cache
    _settle()
    assert _status(toy_config, db, store).from_cache


def _no_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget every parse verdict of this process, and fail on any new parse."""
    monkeypatch.setattr(manifest_check, "_ACCEPTED", set())
    manifest_check._parsed.cache_clear()
    manifest_check._type_parses.cache_clear()

    def no_parser() -> None:
        raise AssertionError("parsed a manifest text")

    monkeypatch.setattr(manifest_check, "sql_parser", no_parser)


def test_status_from_the_record_hashes_no_object_and_parses_no_sql(
    tmp_path: Path, toy_config: Config, no_margin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Status executes and shows no manifest SQL, so a decision the record answers does not
    # parse it; digests a record lists as "parsed" (older records did) are still ignored.
    db, store = _cached(tmp_path, toy_config)
    rec = _record(db)
    assert rec["objects"] and rec["parsed"] == []
    statcache.cache_path(db).write_text(json.dumps({**rec, "parsed": ["0" * 64]}))
    calls: list[str] = []
    resume = importlib.import_module("navsnap.resume")  # navsnap.resume is also the API's
    monkeypatch.setattr(resume, "verify_objects", lambda *a, **k: calls.append("hash"))
    _no_parser(monkeypatch)
    decision = _status(toy_config, db, store)  # the old record still loads
    assert decision.from_cache and decision.action == "complete" and calls == []
    with pytest.raises(AssertionError, match="parsed a manifest text"):
        _status(toy_config, db, store, deep=True)  # a full check parses every manifest


def _forge_newest(store: str, sql: str) -> str:
    """Append a ``ddl[]`` entry to the newest manifest, sealed as any writer can; its id."""
    from navsnap.hashing import hash_bytes
    from navsnap.manifest import canonical_json

    path = max((Path(store) / "manifests").glob("*.json"), key=lambda p: p.name)
    data = json.loads(path.read_text())
    data["ddl"].append({"kind": "view", "schema": "main", "name": "evil", "sql": sql})
    data.pop("integrity")
    data["integrity"] = hash_bytes(canonical_json(data))
    path.write_text(json.dumps(data))
    return str(data["snapshot_id"])


HOSTILE_VIEW = "CREATE VIEW main.evil AS SELECT 1; CREATE TABLE main.stolen AS SELECT 2"


def test_a_record_naming_a_manifest_with_hostile_sql_never_lets_it_be_restored(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    # A forged record may name a forged manifest: status, which runs none of its SQL, may
    # report the database as that snapshot, but restore and resume parse it and refuse it.
    db, store = _cached(tmp_path, toy_config)
    sid = _forge_newest(store, HOSTILE_VIEW)
    rec = _record(db)
    forged = navsnap.Manifest.from_json(
        (Path(store) / "manifests" / f"{sid}.json").read_bytes(), sql=False
    )
    rec["matches"] = [{"snapshot_id": sid, "manifest": statcache.manifest_digest(forged)}]
    statcache.cache_path(db).write_text(json.dumps(rec))
    assert _status(toy_config, db, store).from_cache
    with pytest.raises(IntegrityError, match=r"ddl\[\d+\]\.sql is refused"):
        forged.sql_checked()
    restore: Callable[[], object]
    for restore in (
        lambda: navsnap.restore(store=store, db=db, snapshot=sid),
        lambda: navsnap.restore(store=store, db=db, snapshot=sid, to=tmp_path / "to.duckdb"),
    ):
        with pytest.raises(IntegrityError, match="is refused"):
            restore()
    resumed = plan_resume(open_store(store), toy_config, db_path=db, years=YEARS)
    assert resumed.snapshot is not None and resumed.snapshot.snapshot_id != sid
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert "stolen" not in tables


def test_a_hostile_manifest_the_record_does_not_name_gets_a_full_checks_answer(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    # The record names the snapshot the database is; a forged next year descending from it
    # must be fingerprinted, so its SQL is parsed, and it is skipped as damaged, exactly as a
    # full check (and run --resume) decides.
    from navsnap.hashing import hash_bytes
    from navsnap.manifest import canonical_json

    db, store = _cached(tmp_path, toy_config)
    head = navsnap.show(store, "latest", db=db)
    data = head.to_dict()
    data.update(
        snapshot_id=f"{head.run_id}-2027",
        year=2027,
        parent=head.snapshot_id,
        created_at=head.created_at.replace("20", "21", 1),
    )
    data["ddl"].append({"kind": "view", "schema": "main", "name": "evil", "sql": HOSTILE_VIEW})
    del data["integrity"]
    data["integrity"] = hash_bytes(canonical_json(data))
    (Path(store) / "manifests" / f"{data['snapshot_id']}.json").write_text(json.dumps(data))
    span = (2025, 2028)
    cached = navsnap.status(toy_config, db=db, years=span, store=store)
    deep = navsnap.status(toy_config, db=db, years=span, store=store, deep=True)
    assert any("is refused" in line for line in deep.skipped), deep.skipped
    assert deep.snapshot is not None and deep.snapshot.snapshot_id == head.snapshot_id
    assert cached.to_dict() == {**deep.to_dict(), "from_cache": cached.from_cache}


def test_an_object_is_trusted_by_key_hash_and_size_together(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    store, cached, head = _cached_head(tmp_path, toy_config)
    objs = head.objects()
    paths = {statcache.object_key(o): Path(store) / o.key for o in objs}
    assert cached.objects_unchanged(paths)
    for wrong in (
        dataclasses.replace(objs[-1], xxh3="0" * 32),
        dataclasses.replace(objs[-1], size=objs[-1].size + 1),
    ):
        forged = {**paths}
        del forged[statcache.object_key(objs[-1])]
        forged[statcache.object_key(wrong)] = Path(store) / wrong.key
        assert not cached.objects_unchanged(forged)


def test_a_record_checked_in_the_future_is_not_trusted(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    db, store = _cached(tmp_path, toy_config)
    rec = _record(db)
    future = time.time_ns() + 3600 * 10**9
    statcache.cache_path(db).write_text(json.dumps({**rec, "checked_at_ns": future}))
    assert not _status(toy_config, db, store).from_cache


def test_planted_symlinks_at_the_old_temp_names_truncate_nothing(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    db, store = _run(tmp_path, toy_config)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    # The name the probe and the temporary record had (this process's pid).
    (tmp_path / f".{db.name}.navsnap-stat-{os.getpid()}.tmp").symlink_to(victim)
    assert _status(toy_config, db, store).action == "complete"
    assert victim.read_text() == "precious"
    assert statcache.cache_path(db).is_file() and not statcache.cache_path(db).is_symlink()


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_sidecar_that_is_not_a_regular_file_is_no_record(
    tmp_path: Path, toy_config: Config, no_margin: None, kind: str
) -> None:
    import threading

    db, _ = _cached(tmp_path, toy_config)
    path = statcache.cache_path(db)
    if kind == "fifo":
        path.unlink()
        os.mkfifo(path)
    else:
        real = tmp_path / "elsewhere.stat"
        os.replace(path, real)
        path.symlink_to(real)
    found: list[object] = []
    thread = threading.Thread(
        target=lambda: found.append(statcache.load(db, engine=duckdb.__version__)), daemon=True
    )
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "load() blocked on the sidecar"
    assert found == [None]


def test_a_database_open_read_write_elsewhere_is_scanned(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    import subprocess
    import sys

    db, _ = _cached(tmp_path, toy_config)
    assert statcache.load(db, engine=duckdb.__version__) is not None
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
            " sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        assert statcache.load(db, engine=duckdb.__version__) is None
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(60)
    assert statcache.load(db, engine=duckdb.__version__) is not None


def test_no_record_when_the_clock_probe_is_on_another_filesystem(
    tmp_path: Path, toy_config: Config, no_margin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or os.stat(elsewhere).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second filesystem at /dev/shm")
    db, store = _run(tmp_path, toy_config)
    monkeypatch.setattr(
        statcache, "_mkstemp", lambda db_path: tempfile.mkstemp(dir=elsewhere, suffix=".tmp")
    )
    assert not _status(toy_config, db, store).from_cache
    assert not statcache.cache_path(db).exists()


def test_a_changed_object_is_hashed_again(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    db, store = _cached(tmp_path, toy_config)
    head = navsnap.show(store, "latest", db=db)
    obj = Path(store) / head.objects()[-1].key
    before = os.stat(obj)
    with open(obj, "r+b") as fh:  # same size, mtime put back: only the ctime tells
        fh.seek(before.st_size // 2)
        flipped = bytes(b ^ 0xFF for b in fh.read(8))
        fh.seek(before.st_size // 2)
        fh.write(flipped)
    os.utime(obj, ns=(before.st_atime_ns, before.st_mtime_ns))
    _settle()
    decision = _status(toy_config, db, store)
    deep = _status(toy_config, db, store, deep=True)
    assert any(head.snapshot_id in line for line in decision.skipped)
    assert (decision.action, decision.snapshot) == (deep.action, deep.snapshot)
    assert decision.snapshot is None or decision.snapshot.snapshot_id != head.snapshot_id


def test_a_record_naming_other_snapshots_is_replaced_after_the_scan(
    tmp_path: Path, toy_config: Config, no_margin: None
) -> None:
    db, store = _cached(tmp_path, toy_config)
    rec = _record(db)
    statcache.cache_path(db).write_text(
        json.dumps({**rec, "matches": [{"snapshot_id": "elsewhere-2026", "manifest": "0" * 32}]})
    )
    assert not _status(toy_config, db, store).from_cache  # valid, but names no snapshot here
    _settle()
    assert _status(toy_config, db, store).from_cache  # the scan's match replaced it
