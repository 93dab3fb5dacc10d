"""The record a writer leaves: after a run, the first ``status`` does not scan.

A check's record is trusted only once the file is ``RACY_NS`` older than the check, so a
``status`` right after a run would scan. The run knows what it just wrote: it
records the snapshot once the filesystem's clock has passed the file's last change
(``settled``). Every test checks the answer against a full scan (``deep``), with the real
racy margin.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

import navsnap
from navsnap import statcache
from navsnap.config import Config
from navsnap.resume import record_written

YEARS = (2025, 2026)


def _status(config: Config, db: Path, store: str, *, deep: bool = False) -> navsnap.ResumeDecision:
    return navsnap.status(config, db=db, years=YEARS, store=store, deep=deep)


def _record(db: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(statcache.cache_path(db).read_text())
    return data


def _same(config: Config, db: Path, store: str) -> navsnap.ResumeDecision:
    """``status``, checked to come from the record and to agree with a full scan."""
    cached = _status(config, db, store)
    deep = _status(config, db, store, deep=True)
    assert cached.from_cache and not deep.from_cache
    assert cached.to_dict() == {**deep.to_dict(), "from_cache": True}
    return cached


def test_the_first_status_after_a_run_needs_no_scan(tmp_path: Path, toy_config: Config) -> None:
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    report = navsnap.run(toy_config, db=db, years=YEARS, store=store)
    rec = _record(db)
    assert rec["settled"] is True and rec["objects"] == {}
    assert [m["snapshot_id"] for m in rec["matches"]] == [report.years_run[-1].snapshot_id]
    decision = _same(toy_config, db, store)
    assert decision.action == "complete"


def test_a_write_after_the_writers_record_is_noticed(tmp_path: Path, toy_config: Config) -> None:
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=YEARS, store=store)
    assert statcache.load(db, engine=duckdb.__version__) is not None
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM yearly WHERE simulation_year = 2026 AND person_id = 1")
    con.close()
    assert statcache.load(db, engine=duckdb.__version__) is None
    after = _status(toy_config, db, store)
    assert not after.from_cache and after.action == "restore"


def test_a_settled_record_whose_clock_is_not_past_the_file_is_not_trusted(
    tmp_path: Path, toy_config: Config
) -> None:
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=YEARS, store=store)
    rec = _record(db)
    assert statcache.load(db, engine=duckdb.__version__) is not None
    file = rec["file"]
    assert isinstance(file, dict)
    for clock in (file["ctime_ns"], file["mtime_ns"], file["ctime_ns"] - 1):
        statcache.cache_path(db).write_text(json.dumps({**rec, "checked_at_ns": clock}))
        assert statcache.load(db, engine=duckdb.__version__) is None
    for settled in (False, 1, "yes"):
        statcache.cache_path(db).write_text(json.dumps({**rec, "settled": settled}))
        assert statcache.load(db, engine=duckdb.__version__) is None
    # Without the flag, the check's margin applies: a file written moments ago is racy.
    del rec["settled"]
    statcache.cache_path(db).write_text(json.dumps(rec))
    assert statcache.load(db, engine=duckdb.__version__) is None


def test_nothing_is_recorded_for_a_file_open_for_writing_or_with_a_wal(
    tmp_path: Path, toy_config: Config
) -> None:
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=YEARS, store=store)
    head = navsnap.show(store, "latest", db=db)
    statcache.cache_path(db).unlink()
    con = duckdb.connect(str(db))  # DuckDB's POSIX write lock, as any other process's
    try:
        assert not record_written(db, head)
    finally:
        con.close()
    wal = db.with_name(db.name + ".wal")
    wal.write_bytes(b"")
    assert not record_written(db, head)
    wal.unlink()
    assert not statcache.cache_path(db).exists()
    assert record_written(db, head)
    assert _same(toy_config, db, store).action == "complete"


def test_nothing_is_recorded_when_the_clock_does_not_pass_the_file(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A filesystem whose clock ticks coarsely (FAT: 2 s) is not waited out: no record.
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=YEARS, store=store)
    head = navsnap.show(store, "latest", db=db)
    statcache.cache_path(db).unlink()
    ident = statcache.FileIdentity.of(db)
    assert ident is not None
    monkeypatch.setattr(statcache, "_clock", lambda _p, _i: max(ident.mtime_ns, ident.ctime_ns))
    monkeypatch.setattr(statcache, "SETTLE_WAIT_S", 0.01)
    assert not record_written(db, head)
    assert not statcache.cache_path(db).exists()


def test_a_lean_last_snapshot_is_not_recorded(
    tmp_path: Path, sim_config: Callable[..., Config]
) -> None:
    # A lean snapshot trusts the step's contract for the partitions it did not fingerprint:
    # the run does not know those rows exactly, so the first status scans as before.
    config = sim_config()
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(config, db=db, years=YEARS, store=store)
    assert not statcache.cache_path(db).exists()
    assert os.path.exists(db)
