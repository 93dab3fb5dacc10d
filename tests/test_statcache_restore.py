"""The record a restore leaves: after a full restore, or a delta planned on the connection it
commits on, the first ``status`` does not scan (``navsnap/restore/record.py``).

Every test checks the answer against a full scan (``deep``), with the real racy margin, and
counts the live database's fingerprints: a ``status`` from the record takes none. A restore
that fails or is killed once it has begun to change the file, or cannot prove the whole file
(a hot copy, a delta planned on an earlier opening, ``--tables``, ``--to``) leaves no record,
and the one that was there is gone; one that fails before leaves both as they were.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import TOY_STEP, count_fingerprints, pythonpath, table_fingerprints

import navsnap
import navsnap.compare
from navsnap import statcache
from navsnap.config import Config, load_config
from navsnap.restore import record as restore_record
from navsnap.restore.record import UNKNOWN, held_year

YEARS = (2025, 2026)


def _status(
    config: Config, db: Path, store: str, *, deep: bool = False, years: tuple[int, int] = YEARS
) -> navsnap.ResumeDecision:
    return navsnap.status(config, db=db, years=years, store=store, deep=deep)


def _record(db: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(statcache.cache_path(db).read_text())
    return data


def _from_record(
    config: Config,
    db: Path,
    store: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    years: tuple[int, int] = YEARS,
) -> navsnap.ResumeDecision:
    """``status`` answers from the record with no fingerprint, as a full scan answers."""
    calls = count_fingerprints(monkeypatch)
    cached = _status(config, db, store, years=years)
    assert cached.from_cache and not calls, calls
    deep = _status(config, db, store, deep=True, years=years)
    assert not deep.from_cache and calls
    monkeypatch.undo()
    assert cached.to_dict() == {**deep.to_dict(), "from_cache": True}
    return cached


def _scanned(config: Config, db: Path, store: str) -> navsnap.ResumeDecision:
    """``status`` finds no usable record and scans; its answer is a full scan's."""
    assert statcache.load(db, engine=statcache.engine_key()) is None
    first = _status(config, db, store)
    assert not first.from_cache
    assert first.to_dict() == _status(config, db, store, deep=True).to_dict()
    return first


def _run(tmp_path: Path, config: Config) -> tuple[Path, str]:
    """A finished run, whose own record is there (tests/test_statcache_writer.py)."""
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(config, db=db, years=YEARS, store=store)
    assert statcache.cache_path(db).is_file()
    return db, store


def _damage(db: Path, where: str = "simulation_year = 2026 AND person_id = 1") -> None:
    con = duckdb.connect(str(db))
    con.execute(f"DELETE FROM yearly WHERE {where}")
    con.close()


def test_a_full_restore_leaves_a_record_status_trusts(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, store = _run(tmp_path, toy_config)
    want = table_fingerprints(db)
    db.unlink()
    statcache.cache_path(db).unlink()
    report = navsnap.restore(store=store, db=db, year=2026)
    assert report.plan.strategy == "full" and report.source == "parquet"
    rec = _record(db)
    assert rec["settled"] is True and rec["objects"] == {} and rec["year"] == 2026
    assert [m["snapshot_id"] for m in rec["matches"]] == [report.plan.snapshot_id]  # type: ignore[attr-defined]
    assert _from_record(toy_config, db, store, monkeypatch).action == "complete"
    assert table_fingerprints(db) == want


def test_a_restore_of_an_older_year_records_that_year(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, store = _run(tmp_path, toy_config)
    report = navsnap.restore(store=store, db=db, year=2025)
    assert report.plan.strategy in ("full", "delta") and report.source == "parquet"
    assert _record(db)["year"] == 2025
    # A run that ends in 2025 is complete from the record. (Up to 2026, status plans the
    # restore of 2026's snapshot, which descends from it: that plan reads the live rows.)
    decision = _from_record(toy_config, db, store, monkeypatch, years=(2025, 2025))
    assert decision.action == "complete" and decision.snapshot is not None
    assert decision.snapshot.snapshot_id == report.plan.snapshot_id


def test_a_delta_restore_leaves_a_record_status_trusts(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, store = _run(tmp_path, toy_config)
    _damage(db)
    assert statcache.load(db, engine=statcache.engine_key()) is None  # the run's: the file changed
    report = navsnap.restore(store=store, db=db, year=2026)
    assert report.plan.strategy == "delta"  # planned and committed on one connection
    assert _record(db)["settled"] is True
    assert _from_record(toy_config, db, store, monkeypatch).action == "complete"


def test_run_resume_records_its_full_restore_not_its_delta(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, store = _run(tmp_path, toy_config)
    db.unlink()
    report = navsnap.run(toy_config, db=db, years=YEARS, store=store, resume=True)
    assert report.restored is not None and report.restored.plan.strategy == "full"
    assert _from_record(toy_config, db, store, monkeypatch).action == "complete"
    # A delta carried out from the plan status's decision made on an earlier opening of the
    # file: its kept partitions were fingerprinted there, so it records nothing.
    _damage(db)
    report = navsnap.run(toy_config, db=db, years=YEARS, store=store, resume=True)
    assert report.restored is not None and report.restored.plan.strategy == "delta"
    assert not statcache.cache_path(db).exists()
    assert _scanned(toy_config, db, store).action == "complete"


def test_a_hot_restore_leaves_no_record(tmp_path: Path) -> None:
    config = load_config(overrides={"run.step": TOY_STEP, "snapshot.hot": 1}, search_cwd=False)
    db, store = _run(tmp_path, config)
    _damage(db)
    report = navsnap.restore(store=store, db=db, year=2026)
    assert report.source == "hot"
    assert not statcache.cache_path(db).exists()
    assert _scanned(config, db, store).action == "complete"


def test_partial_and_elsewhere_restores_leave_no_record(tmp_path: Path, toy_config: Config) -> None:
    db, store = _run(tmp_path, toy_config)
    out = tmp_path / "other.duckdb"
    navsnap.restore(store=store, db=db, year=2025, to=out)
    assert table_fingerprints(out)  # restored
    assert not statcache.cache_path(out).exists()
    _damage(db)
    report = navsnap.restore(store=store, db=db, year=2026, tables=["yearly"])
    assert report.plan.strategy == "delta"
    assert not statcache.cache_path(db).exists()
    assert _scanned(toy_config, db, store).action == "complete"


def test_a_failed_restore_leaves_no_usable_record(tmp_path: Path, toy_config: Config) -> None:
    db, store = _run(tmp_path, toy_config)
    db.unlink()
    head = navsnap.show(store, "latest", db=db)
    obj = Path(store) / head.table("yearly").partitions[-1].object.key
    obj.write_bytes(b"garbage" + obj.read_bytes()[7:])  # same size, another hash
    with pytest.raises(navsnap.NavsnapError):
        navsnap.restore(store=store, db=db, year=2026)
    assert not db.exists()
    assert statcache.load(db, engine=statcache.engine_key()) is None


def test_a_restore_that_fails_before_the_swap_leaves_file_and_record_as_they_were(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "Nothing was changed": the record still names the unchanged file, and says so truly.
    db, store = _run(tmp_path, toy_config)
    assert navsnap.restore(store=store, db=db, year=2025, dry_run=True).plan.strategy == "full"
    before = statcache.cache_path(db).read_bytes(), statcache.FileIdentity.of(db)
    pipeline = importlib.import_module("navsnap.restore.pipeline")

    def refuse(*_a: object, **_k: object) -> None:
        raise navsnap.RestoreError("refused")

    monkeypatch.setattr(pipeline, "build_full", refuse)
    with pytest.raises(navsnap.RestoreError):
        navsnap.restore(store=store, db=db, year=2025)
    monkeypatch.undo()
    assert (statcache.cache_path(db).read_bytes(), statcache.FileIdentity.of(db)) == before
    assert _from_record(toy_config, db, store, monkeypatch).action == "complete"


def test_a_restore_that_fails_its_check_leaves_no_record(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The delta began to rewrite the file (then rolled back): the record is removed first.
    db, store = _run(tmp_path, toy_config)
    _damage(db)

    def refuse(*_a: object, **_k: object) -> None:
        raise navsnap.RestoreError("refused")

    build = importlib.import_module("navsnap.restore.build")
    monkeypatch.setattr(build, "check_partitions", refuse)  # the delta's check
    monkeypatch.setattr(build, "check_tables", refuse)  # the full restore's it falls back to
    with pytest.raises(navsnap.RestoreError):
        navsnap.restore(store=store, db=db, year=2026)
    monkeypatch.undo()
    assert not statcache.cache_path(db).exists()
    assert _scanned(toy_config, db, store).action == "restore"


@pytest.mark.parametrize("point", ["restore-after-swap", "delta-after-commit"])
def test_a_restore_killed_after_it_committed_leaves_no_record(
    tmp_path: Path, toy_config: Config, point: str
) -> None:
    db, store = _run(tmp_path, toy_config)
    if point == "restore-after-swap":
        db.unlink()  # a full restore: nothing to plan a delta on
    else:
        _damage(db)
    code = f"import navsnap\nnavsnap.restore(store={store!r}, db={str(db)!r}, year=2026)\n"
    env = {**os.environ, "PYTHONPATH": pythonpath(), "NAVSNAP_FAULT": point}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr  # killed at the fault point
    assert not statcache.cache_path(db).exists()
    (db.with_name(db.name + ".navsnap.lock.json")).unlink(missing_ok=True)  # the dead owner's
    assert _scanned(toy_config, db, store).action == "complete"


def test_a_record_is_not_trusted_once_the_file_is_touched_or_written(
    tmp_path: Path, toy_config: Config
) -> None:
    db, store = _run(tmp_path, toy_config)
    _damage(db)
    navsnap.restore(store=store, db=db, year=2026)
    assert statcache.load(db, engine=statcache.engine_key()) is not None
    os.utime(db)  # touched: mtime and ctime now
    assert _scanned(toy_config, db, store).action == "complete"
    _damage(db)
    navsnap.restore(store=store, db=db, year=2026)
    assert statcache.load(db, engine=statcache.engine_key()) is not None
    _damage(db, "simulation_year = 2025 AND person_id = 2")  # written: a changed row
    assert _scanned(toy_config, db, store).action == "restore"


def test_a_full_restore_records_only_the_file_it_checked(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The identity of the file the checks read is compared with the file in place: another
    file, or the same one written after the check, is not recorded."""
    db, store = _run(tmp_path, toy_config)
    head = navsnap.show(store, "latest", db=db)
    ident = statcache.FileIdentity.of(db)
    assert ident is not None
    for other in (
        dataclasses.replace(ident, ino=ident.ino + 1),
        dataclasses.replace(ident, mtime_ns=ident.mtime_ns - 1),
        dataclasses.replace(ident, size=ident.size + 1),
        dataclasses.replace(ident, ctime_ns=ident.ctime_ns + 1),
    ):
        statcache.cache_path(db).unlink(missing_ok=True)
        assert not restore_record.record(db, head, checked=other)
        assert not statcache.cache_path(db).exists()
    # A rename into place moves the ctime on, nothing else.
    assert restore_record.record(db, head, checked=dataclasses.replace(ident, ctime_ns=0))
    assert _from_record(toy_config, db, store, monkeypatch).action == "complete"


def test_the_year_comes_from_the_manifest_only_when_it_says_it_exactly(
    tmp_path: Path, toy_config: Config
) -> None:
    db, store = _run(tmp_path, toy_config)
    head = navsnap.show(store, "latest", db=db)
    assert held_year(head) == 2026
    tables = []
    for t in head.tables:
        if t.year_column is None:
            tables.append(t)
            continue
        cols = tuple((n, "VARCHAR" if n == t.year_column else ty, nn) for n, ty, nn in t.columns)
        tables.append(dataclasses.replace(t, columns=cols))
    text_years = dataclasses.replace(head, tables=tuple(tables))
    assert held_year(text_years) == UNKNOWN  # max() of text is not the newest year
    statcache.cache_path(db).unlink()
    assert not restore_record.record(db, text_years)
    assert not statcache.cache_path(db).exists()
    empty = dataclasses.replace(
        head,
        tables=tuple(
            dataclasses.replace(t, partitions=tuple(p for p in t.partitions if p.rows == 0))
            for t in head.tables
        ),
    )
    assert held_year(empty) is None
