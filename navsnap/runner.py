"""The year loop: one step per year, a snapshot at every year boundary, resume.

``run`` drives years A..B. Before the loop it decides where to start:

* a new run: the database must be new (for the built-in simulation) and starts at A;
* ``resume``: :func:`navsnap.resume.plan_resume` finds the newest verified snapshot of this
  configuration, restores it when the database differs, and continues with the next year;
* ``from_snapshot=Y``: restore the end of Y (this configuration's newest snapshot) and run
  A..B, where A must be Y+1;
* ``force_restart``: move the existing database aside and start at A.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from navsnap.config import Config
from navsnap.dbfile import move_aside, raise_if_in_use
from navsnap.errors import DatabaseError, NavsnapError, UsageError
from navsnap.faults import fault_point
from navsnap.index import ReuseIndex
from navsnap.lock import db_lock
from navsnap.manifest import Manifest
from navsnap.restore import restore
from navsnap.resume import ResumeDecision, config_block, plan_resume
from navsnap.snapshot import ProgressFn, SnapshotJob, SnapshotOptions, new_run_id
from navsnap.steps import Step, make_step
from navsnap.store import Store, layout, open_store

__all__ = ["RunEvent", "RunReport", "YearResult", "default_store_url", "parse_years", "run"]


def parse_years(text: str) -> tuple[int, int]:
    """'2025-2029' -> (2025, 2029); '2027' -> (2027, 2027)."""
    raw = text.strip()
    first, sep, last = raw.partition("-")
    try:
        a = int(first)
        b = int(last) if sep else a
    except ValueError:
        raise UsageError(
            f"years {text!r} are not of the form A-B", hint="for example --years 2025-2029"
        ) from None
    if not (1 <= a <= 9999 and 1 <= b <= 9999):
        raise UsageError(f"years {text!r} are out of range", hint="use years 1-9999")
    if b < a:
        raise UsageError(
            f"years {text!r} run backwards", hint=f"write them in order: --years {b}-{a}"
        )
    return a, b


def default_store_url(db_path: Path) -> str:
    return str(db_path.absolute().parent / "snapshots")


@dataclass(frozen=True)
class YearResult:
    year: int
    seconds: float
    rows: dict[str, int]
    snapshot_id: str | None = None
    snapshot_seconds: float = 0.0
    snapshot_new_bytes: int = 0


@dataclass(frozen=True)
class RunEvent:
    """What the loop reports as it goes (the CLI prints these; the library never prints)."""

    kind: str  # "plan" | "start" | "year" | "warning"
    message: str
    year: YearResult | None = None
    #: "start" events: the year whose step is about to run.
    started: int | None = None


@dataclass(frozen=True)
class RunReport:
    run_id: str
    db_path: str
    store: str | None
    years_run: tuple[YearResult, ...]
    decision: ResumeDecision | None = None
    moved_aside: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "db": self.db_path,
            "store": self.store,
            "years": [y.__dict__ for y in self.years_run],
            "decision": self.decision.to_dict() if self.decision else None,
            "moved_aside": list(self.moved_aside),
            "warnings": list(self.warnings),
        }


def _check_db_path(db_path: Path) -> None:
    if db_path.is_dir():
        raise DatabaseError(
            f"database path {str(db_path)!r} is a directory", hint="pass a file path to --db"
        )
    parent = db_path.absolute().parent
    if not parent.is_dir():
        raise DatabaseError(
            f"directory {str(parent)!r} of the database does not exist", hint="create it first"
        )
    if not os.access(parent, os.W_OK) or (db_path.exists() and not os.access(db_path, os.W_OK)):
        raise DatabaseError(
            f"database {str(db_path)!r} is not writable", hint="check its permissions"
        )


def _row_counts(con: duckdb.DuckDBPyConnection, year: int, year_column: str) -> dict[str, int]:
    from navsnap.catalog import list_tables, quote_ident

    out: dict[str, int] = {}
    for t in list_tables(con, year_column=year_column):
        if t.year_column is None:
            continue
        row = con.execute(
            f"SELECT count(*) FROM {t.ref} WHERE {quote_ident(year_column)} = ?", [year]
        ).fetchone()
        out[t.key] = int(row[0]) if row else 0
    return out


def _probe_writable(store: Store) -> None:
    """Write and remove a small file, so a read-only store fails now, not after a year's step.

    ``ensure_writable`` only reads an existing store's marker; a read-only mount or read-only
    credentials would otherwise surface at the first snapshot, after the database changed.
    """
    key = layout.temp_key("probe")
    store.write_bytes_atomic(key, b"", overwrite=True)
    store.delete(key)


def _connect(db_path: Path, config: Config) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(db_path))
    except duckdb.Error as exc:
        raise_if_in_use(exc, db_path)
        raise DatabaseError(
            f"database {str(db_path)!r} cannot be opened: {str(exc).splitlines()[0]}",
            hint="restore it with 'navsnap restore' or start over with --force-restart",
        ) from None
    if config.run.threads:
        con.execute(f"SET threads = {int(config.run.threads)}")
    return con


def run(
    config: Config,
    *,
    db_path: str | os.PathLike[str],
    years: tuple[int, int] | None = None,
    store: Store | str | None = None,
    snapshots: bool | None = None,
    resume: bool = False,
    force_restart: bool = False,
    from_snapshot: int | None = None,
    wait_lock: float = 0.0,
    on_event: Callable[[RunEvent], None] | None = None,
    progress: ProgressFn | None = None,
) -> RunReport:
    """Run the configured step for each year, snapshotting every year boundary."""
    db = Path(db_path)
    first, last = years if years is not None else parse_years(config.run.years)
    if resume and force_restart:
        raise UsageError(
            "--resume and --force-restart contradict each other", hint="choose one of them"
        )
    if from_snapshot is not None and (resume or force_restart):
        raise UsageError(
            "--from-snapshot cannot be combined with --resume or --force-restart",
            hint="choose one of them",
        )
    if from_snapshot is not None and from_snapshot != first - 1:
        raise UsageError(
            f"--from-snapshot {from_snapshot} must be the year before the first year {first}",
            hint=f"use --years {from_snapshot + 1}-{last}",
        )
    _check_db_path(db)
    step: Step = make_step(config.run.step)
    take = config.snapshot.enabled if snapshots is None else snapshots
    st: Store | None = None
    if take or resume or from_snapshot is not None:
        st = store if isinstance(store, Store) else open_store(store or default_store_url(db))
        if take:
            st.ensure_writable()
            _probe_writable(st)
        elif st.has_marker():
            st.check_readable()
    block = config_block(config)
    emit = on_event or (lambda _e: None)
    warnings: list[str] = []

    with db_lock(db, purpose="navsnap run", wait=wait_lock, warnings=warnings):
        for w in warnings:
            emit(RunEvent("warning", w))
        moved: tuple[str, ...] = ()
        decision: ResumeDecision | None = None
        parent: str | None = None
        start = first
        if force_restart:
            moved = move_aside(db, "before-force-restart")
            if moved:
                emit(RunEvent("plan", f"moved the old database aside: {moved[0]}"))
        elif resume:
            assert st is not None
            decision = plan_resume(st, config, db_path=db, years=(first, last), block=block)
            emit(RunEvent("plan", decision.explain()))
            for w in decision.skipped:
                emit(RunEvent("warning", w))
            if decision.action in ("restore", "continue", "complete"):
                assert decision.snapshot is not None
                if decision.action == "restore":
                    restore(st, decision.snapshot, db_path=db, progress=progress)
                start = decision.snapshot.year + 1
                parent = decision.snapshot.snapshot_id
            elif decision.action == "start" and db.exists():
                moved = move_aside(db, "before-resume-from-start")
        elif from_snapshot is not None:
            assert st is not None
            snap = _lineage_snapshot(st, from_snapshot, block)
            emit(RunEvent("plan", f"restoring {snap.snapshot_id} (end of {from_snapshot})"))
            restore(st, snap, db_path=db, progress=progress)
            parent = snap.snapshot_id
        # The first year of this lineage of runs: a continued run keeps its parent's.
        continued = decision.snapshot if decision is not None else None
        if from_snapshot is not None:
            continued = snap
        origin = continued.config.origin_year if continued is not None else first
        block = {**block, "origin_year": origin}

        run_id = new_run_id()
        results: list[YearResult] = []
        reuse = (
            ReuseIndex.from_store(st)
            if (take and st is not None and st.has_marker())
            else ReuseIndex()
        )
        opts = SnapshotOptions(
            mode=config.snapshot.mode,
            compression=config.snapshot.compression,
            compression_level=config.snapshot.compression_level,
            file_compression=config.snapshot.file_compression,
            year_column=config.run.year_column,
            builtin_validation=step.builtin,
            checks=config.checks,
        )
        con: duckdb.DuckDBPyConnection | None = None
        # The year-Y snapshot still exporting in the background, with its year's figures.
        pending: tuple[Future[Manifest], int, float, dict[str, int], float] | None = None
        overlap = step.holds_connection and opts.mode == "parquet"

        def settle() -> None:
            """Wait for the pending snapshot to commit, then report its year."""
            nonlocal pending
            if pending is None:
                return
            future, year_, secs_, rows_, t1_ = pending
            pending = None
            manifest_ = future.result()
            _year_done(year_, secs_, rows_, manifest_, time.perf_counter() - t1_)

        def _year_done(
            year_: int,
            secs_: float,
            rows_: dict[str, int],
            manifest_: Manifest | None,
            snap_secs: float,
        ) -> None:
            if manifest_ is not None and st is not None:
                _auto_prune(st, config, emit)
            result = YearResult(
                year=year_,
                seconds=round(secs_, 3),
                rows=rows_,
                snapshot_id=manifest_.snapshot_id if manifest_ else None,
                snapshot_seconds=round(snap_secs, 3),
                snapshot_new_bytes=manifest_.new_bytes if manifest_ else 0,
            )
            results.append(result)
            emit(RunEvent("year", f"year {year_} done", result))
            if progress is not None:
                progress("years", len(results), last - start + 1)

        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="navsnap-export")
        try:
            if start == first and not resume and from_snapshot is None and db.exists():
                con = _connect(db, config)
                step.check_fresh(con, db_path=db)
            for year in range(start, last + 1):
                t0 = time.perf_counter()
                emit(RunEvent("start", f"year {year} started", started=year))
                if step.holds_connection:
                    if con is None:
                        con = _connect(db, config)
                elif con is not None:
                    con.close()
                    con = None
                log = db.absolute().parent / "navsnap-logs" / f"{run_id}-{year}.log"
                step.run(year=year, con=con, db_path=db, config=config, log_path=log)
                fault_point("after-step")
                if con is None:
                    con = _connect(db, config)
                rows = _row_counts(con, year, config.run.year_column)
                secs = time.perf_counter() - t0
                settle()
                if not (take and st is not None):
                    _year_done(year, secs, rows, None, 0.0)
                else:
                    t1 = time.perf_counter()
                    job = SnapshotJob.start(
                        con,
                        store=st,
                        year=year,
                        run_id=run_id,
                        config=block,
                        options=opts,
                        db_path=db,
                        reuse=reuse,
                        parent=parent,
                        progress=None,
                    )
                    parent = job.snapshot_id
                    if overlap and year < last:
                        # Year Y's partitions no longer change: export them while Y+1 runs.
                        pending = (executor.submit(job.finish), year, secs, rows, t1)
                    else:
                        _year_done(year, secs, rows, job.finish(), time.perf_counter() - t1)
                if not step.holds_connection:
                    con.close()
                    con = None
            settle()
        finally:
            if pending is not None:
                # A step failed while the previous year's snapshot was exporting: let that
                # snapshot commit (or fail) before the error propagates.
                try:
                    settle()
                except Exception as exc:  # the step's error is the one to raise
                    detail = exc.one_line() if isinstance(exc, NavsnapError) else str(exc)
                    emit(RunEvent("warning", f"the previous year's snapshot failed too: {detail}"))
            executor.shutdown(wait=True)
            if con is not None:
                con.close()
    return RunReport(
        run_id=run_id,
        db_path=str(db),
        store=st.url if st else None,
        years_run=tuple(results),
        decision=decision,
        moved_aside=moved,
        warnings=tuple(warnings),
    )


def _auto_prune(store: Store, config: Config, emit: Callable[[RunEvent], None]) -> None:
    """Apply the ``[retention]`` policy after a checkpoint; a held prune lock skips it."""
    from navsnap.errors import LockHeld
    from navsnap.retention import RetentionPolicy, prune

    policy = RetentionPolicy.from_config(config.retention)
    if not policy.active:
        return
    try:
        report = prune(store, policy)
    except LockHeld as exc:
        emit(RunEvent("warning", f"retention skipped: {exc.one_line()}"))
        return
    for w in report.warnings:
        emit(RunEvent("warning", w))
    if report.removed_manifests or report.removed_objects:
        emit(
            RunEvent(
                "plan",
                f"retention: removed {len(report.removed_manifests)} snapshot(s) "
                f"({', '.join(report.removed_manifests) or '-'}) and "
                f"{len(report.removed_objects)} object(s), {report.freed_bytes} bytes",
            )
        )


def _lineage_snapshot(store: Store, year: int, block: dict[str, Any]) -> Manifest:
    from navsnap.errors import SnapshotNotFound
    from navsnap.index import read_all

    manifests = [m for m in read_all(store)[0] if m.year == year]
    mine = [m for m in manifests if m.config_hash == block["hash"]]
    if not mine:
        if manifests:
            from navsnap.resume import drift_error

            raise drift_error(max(manifests, key=lambda m: m.created_at), block)
        raise SnapshotNotFound(
            f"no snapshot of year {year} in {store.url!r}", hint="see 'navsnap list'"
        )
    return max(mine, key=lambda m: (m.created_at, m.snapshot_id))
