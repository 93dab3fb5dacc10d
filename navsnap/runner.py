"""The year loop: one step per year, a snapshot at every year boundary, resume.

``run`` drives years A..B as a pipeline: resolve the store and the start point, then for each
year *step* (the configured :class:`~navsnap.steps.Step`), *check* (count the year's rows),
*snapshot* (exported in the background while the next year's step runs, when the step holds
the connection) and apply *retention*. The start point is one of:

* a new run: the database must be new (for the built-in simulation) and starts at A;
* ``resume``: :func:`navsnap.resume.plan_resume` finds the chain the database is on (this
  database's snapshots of this configuration), restores its newest verified snapshot when
  the database differs, and continues with the next year;
* ``from_snapshot=Y``: restore the end of Y (this database's and configuration's newest
  snapshot) and run A..B, where A must be Y+1; ``from_snapshot=REF`` (an id, tag or
  ``latest@Y``) restores that snapshot, of any lineage or database: a changed configuration
  then *forks* a new lineage whose first snapshot's parent is REF;
* ``force_restart``: move the existing database aside and start at A.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from warnings import warn

import duckdb

from navsnap.cancel import cancellable
from navsnap.config import Config, config_diff
from navsnap.dbfile import checked_path, move_aside, raise_if_in_use
from navsnap.errors import (
    DatabaseError,
    DiskFullError,
    DriftError,
    NavsnapError,
    SnapshotNotFound,
    StepError,
    UsageError,
)
from navsnap.faults import fault_point
from navsnap.fsutil import is_disk_full
from navsnap.identity import (
    belongs,
    catalog_name,
    database_name,
    lineage_label,
    newest_of,
    owner_key,
    snapshots_of,
)
from navsnap.index import ReuseIndex, read_all, resolve
from navsnap.lineage import config_block, drift_error, same_lineage
from navsnap.locate import resolve_store
from navsnap.lock import db_lock
from navsnap.manifest import Manifest
from navsnap.restore import RestorePlan, RestoreReport, restore
from navsnap.resume import ResumeDecision, plan_resume, record_written
from navsnap.snapshot import (
    ProgressFn,
    SnapshotJob,
    SnapshotOptions,
    new_run_id,
    refuse_catalog_name,
)
from navsnap.steps import Step, make_step
from navsnap.store import Store, layout
from navsnap.yearcheck import check_new_run, count_rows, step_result_error
from navsnap.yearpass import Baseline
from navsnap.years import parse_years, year_span

__all__ = ["RunEvent", "RunReport", "StartPoint", "YearResult", "parse_years", "run"]

log = logging.getLogger(__name__)


def db_argument(
    db: str | os.PathLike[str] | None, db_path: str | os.PathLike[str] | None, *, caller: str
) -> str | os.PathLike[str]:
    """The database path of an API call that takes ``db`` (``db_path`` is its deprecated name)."""
    if db_path is not None:
        if db is not None:
            raise UsageError(f"{caller}() got both db and db_path", hint="pass db only")
        warn(
            f"navsnap.{caller}(db_path=...) is deprecated; use db=...",
            DeprecationWarning,
            stacklevel=3,
        )
        return db_path
    if db is None:
        raise UsageError(f"{caller}() needs db", hint=f"call {caller}(config, db='sim.duckdb')")
    return db


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
    #: The restore the start point did (resume, --from-snapshot), else None.
    restored: RestoreReport | None = None

    def to_dict(self) -> dict[str, Any]:
        restored = self.restored
        return {
            "run_id": self.run_id,
            "db": self.db_path,
            "store": self.store,
            "years": [y.__dict__ for y in self.years_run],
            "decision": self.decision.to_dict() if self.decision else None,
            "restore": None
            if restored is None
            else {
                "snapshot_id": restored.plan.snapshot_id,
                "strategy": restored.plan.strategy,
                "source": restored.source,
                "hot_fallback": restored.hot_fallback,
                "seconds": round(restored.seconds, 3),
            },
            "moved_aside": list(self.moved_aside),
            "warnings": list(self.warnings),
        }


def _check_db_path(db_path: Path) -> None:
    if db_path.is_dir():
        raise DatabaseError(
            f"database path {str(db_path)!r} is a directory",
            hint="pass a file path to --db (or NAVSNAP_DB)",
        )
    parent = db_path.absolute().parent
    if not parent.is_dir():
        raise DatabaseError(
            f"directory {str(parent)!r} of the database does not exist", hint="create it first"
        )
    if not os.access(parent, os.W_OK):  # a run writes beside the file (lock, swaps, logs)
        raise DatabaseError(
            f"directory {str(parent)!r} of database {str(db_path)!r} is not writable",
            hint="check the directory's permissions",
        )
    if db_path.exists() and not os.access(db_path, os.W_OK):
        raise DatabaseError(
            f"database {str(db_path)!r} is not writable", hint="check its permissions"
        )


def _probe_writable(store: Store) -> None:
    """Write and remove a small file, so a read-only store fails now, not after a year's step.

    ``ensure_writable`` only reads an existing store's marker; a read-only mount or read-only
    credentials would otherwise surface at the first snapshot, after the database changed.
    """
    key = layout.temp_key("probe")
    store.write_bytes_atomic(key, b"", overwrite=True, durable=False)  # a probe, not data
    store.delete(key)


def _connect(
    db_path: Path, config: Config, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.Error as exc:
        raise_if_in_use(exc, db_path)
        raise DatabaseError(
            f"database {str(db_path)!r} cannot be opened: {str(exc).splitlines()[0]}",
            hint="restore it with 'navsnap restore' or start over with --force-restart",
        ) from None
    if config.run.threads:
        con.execute(f"SET threads = {int(config.run.threads)}")
    return con


def _check_options(
    first: int, last: int, *, resume: bool, force_restart: bool, from_snapshot: int | str | None
) -> None:
    if resume and force_restart:
        raise UsageError(
            "--resume and --force-restart contradict each other", hint="choose one of them"
        )
    if from_snapshot is not None and (resume or force_restart):
        raise UsageError(
            "--from-snapshot cannot be combined with --resume or --force-restart",
            hint="choose one of them",
        )
    if isinstance(from_snapshot, int) and from_snapshot != first - 1:
        raise UsageError(
            f"--from-snapshot {from_snapshot} must be the year before the first year {first}",
            hint=f"use --years {from_snapshot + 1}-{last}",
        )


def _open_store(
    store: Store | str | os.PathLike[str] | None,
    *,
    config: Config,
    db: Path,
    take: bool,
    needed: bool,
) -> Store | None:
    """The run's store (None when neither snapshots nor a restore need one), checked early."""
    if not needed:
        return None
    st = resolve_store(store, config=config, db_path=db)
    if take:
        st.ensure_writable()
        _probe_writable(st)
    elif st.has_marker():
        st.check_readable()
    return st


def _refuse_if_open(db: Path) -> None:
    """Refuse (DatabaseError) to move aside a database another process has open: DuckDB
    refuses a read-only connection beside a read-write one. A file DuckDB cannot open for
    another reason (damaged: what --force-restart is often for) is moved aside as before."""
    if not db.exists():
        return
    try:
        duckdb.connect(str(db), read_only=True).close()
    except duckdb.Error as exc:
        raise_if_in_use(exc, db)


def _check_fresh(
    db: Path,
    config: Config,
    *,
    step: Step,
    store: Store | None,
    block: Mapping[str, Any],
    first: int,
) -> None:
    """A new run on an existing database: the step's own check (the built-in simulation
    refuses any table), then :func:`navsnap.yearcheck.check_new_run` when snapshots are on."""
    con = _connect(db, config, read_only=True)
    try:
        step.check_fresh(con, db_path=db)
        if store is not None:
            check_new_run(
                con, store, block, db_path=db, first=first, year_column=config.run.year_column
            )
    finally:
        con.close()


def run(
    config: Config,
    *,
    db: str | os.PathLike[str] | None = None,
    years: str | tuple[int, int] | None = None,
    store: Store | str | os.PathLike[str] | None = None,
    snapshots: bool | None = None,
    resume: bool = False,
    force_restart: bool = False,
    from_snapshot: int | str | None = None,
    wait_lock: float = 0.0,
    on_event: Callable[[RunEvent], None] | None = None,
    progress: ProgressFn | None = None,
    db_path: str | os.PathLike[str] | None = None,
) -> RunReport:
    """Run the configured step for each year, snapshotting every year boundary.

    ``years`` is ``"2025-2029"`` or ``(2025, 2029)``; None means the config's ``[run] years``.
    ``store`` None means the config's ``[snapshot] store``, else ``snapshots/`` beside the
    database (:mod:`navsnap.locate`). ``db_path`` is the deprecated name of ``db``.
    """
    given = Path(db_argument(db, db_path, caller="run"))
    first, last = year_span(years, config)
    _check_options(
        first, last, resume=resume, force_restart=force_restart, from_snapshot=from_snapshot
    )
    # A symlink is resolved once: the lock, the step, a restore and a move aside all act on
    # the real file. The default store stays beside the path as given.
    real = checked_path(given)
    _check_db_path(real)
    take = config.snapshot.enabled if snapshots is None else snapshots
    if take:  # before the first step changes the database, not at its first snapshot
        refuse_catalog_name(catalog_name(database_name(real)))
    step = make_step(config.run.step)
    needed = take or resume or from_snapshot is not None
    emit = on_event or (lambda _e: None)
    warnings: list[str] = []
    with db_lock(real, purpose="navsnap run", wait=wait_lock, warnings=warnings):
        fresh = not (resume or force_restart or from_snapshot is not None)
        where = resolve_store(store, config=config, db_path=given) if needed else None
        # Before anything is written to the store: no declared input may hold it (nor the
        # database), or its hash would change with the store's marker and every snapshot.
        block = config_block(config, step=step, db=real, store=where)
        if fresh and real.exists():
            # Before anything is written, the store's marker included.
            _check_fresh(
                real, config, step=step, store=where if take else None, block=block, first=first
            )
        if resume and where is not None and real.exists() and not where.has_marker():
            # Before _open_store creates it: a mistyped --store would otherwise hold no
            # snapshot, and --resume would move the database aside and start over.
            raise SnapshotNotFound(
                f"no navsnap store at {where.url!r} to resume {str(given)!r} from",
                hint="check --store (the store the run wrote); --force-restart starts over",
            )
        st = _open_store(where, config=config, db=given, take=take, needed=needed)
        for w in warnings:
            emit(RunEvent("warning", w))
        loop = YearLoop(
            config, step=step, db=real, store=st if take else None, emit=emit, progress=progress
        )
        start = loop.start_point(
            st,
            block,
            years=(first, last),
            resume=resume,
            force_restart=force_restart,
            from_snapshot=from_snapshot,
        )
        results = loop.run(start, last=last)
    return RunReport(
        run_id=loop.run_id,
        db_path=str(given),
        store=st.url if st else None,
        years_run=results,
        decision=start.decision,
        moved_aside=start.moved_aside,
        warnings=tuple(warnings),
        restored=start.restored,
    )


@dataclass(frozen=True)
class StartPoint:
    """Where the loop starts, decided before any year runs."""

    year: int
    #: The config block manifests record, with the lineage's first year (``origin_year``).
    block: Mapping[str, Any]
    #: The snapshot the first new snapshot continues (None: a new chain).
    parent: str | None = None
    #: A new run on a database that may exist: the step may refuse it.
    fresh: bool = False
    decision: ResumeDecision | None = None
    moved_aside: tuple[str, ...] = ()
    #: The snapshot the database was just checked to equal, partition by partition (after a
    #: restore, or a resume that found it matching): the first snapshot's baseline.
    verified: Manifest | None = None
    restored: RestoreReport | None = None


@dataclass(frozen=True)
class _Pending:
    """A snapshot still exporting in the background, with its year's figures."""

    future: Future[Manifest]
    year: int
    seconds: float
    rows: dict[str, int]
    started: float


class YearLoop:
    """One run's years: step -> check -> snapshot (overlapped) -> retention.

    ``store`` None runs without snapshots. Use :meth:`start_point`, then :meth:`run` once.
    """

    def __init__(
        self,
        config: Config,
        *,
        step: Step,
        db: Path,
        store: Store | None,
        emit: Callable[[RunEvent], None],
        progress: ProgressFn | None,
    ) -> None:
        self.config = config
        self.step = step
        self.db = db
        self.store = store
        self.emit = emit
        self.progress = progress
        self.run_id = new_run_id()
        self.options = SnapshotOptions.from_config(config, step=step)
        # Overlap the export with the next step only when the step keeps our connection.
        self.overlap = step.holds_connection and self.options.mode == "parquet"
        self.results: list[YearResult] = []
        self.pending: _Pending | None = None
        self.con: duckdb.DuckDBPyConnection | None = None
        self.years_total = 0
        #: Every table's rows before the current year's step (what it must not lose).
        self.before: Mapping[str, int] = {}
        #: What the step promises to write (None: every snapshot is deep).
        self.contract = step.contract(config)
        #: The snapshot the database matched before the current year's step, and how many
        #: lean snapshots followed the last deep one (or the last full verification).
        self.prior: Manifest | None = None
        self.lean_streak = 0
        #: The newest snapshot, when it fingerprinted every partition (not a lean one).
        self.exact: Manifest | None = None

    # ------------------------------------------------------------------ start point

    def start_point(
        self,
        store: Store | None,
        block: Mapping[str, Any],
        *,
        years: tuple[int, int],
        resume: bool,
        force_restart: bool,
        from_snapshot: int | str | None,
    ) -> StartPoint:
        """Carry out the start decision: move aside or restore; say what was done."""
        first = years[0]
        if force_restart:
            _refuse_if_open(self.db)
            moved = move_aside(self.db, "before-force-restart")
            if moved:
                self.emit(RunEvent("plan", f"moved the old database aside: {moved[0]}"))
            log.info("force restart: starting at %d", first)
            return StartPoint(first, {**block, "origin_year": first}, moved_aside=moved)
        if resume:
            assert store is not None
            return self._resume(store, block, years)
        if from_snapshot is not None:
            assert store is not None
            snap = self._from_snapshot(store, from_snapshot, block, first=first)
            report = self._restore(store, snap)
            origin = snap.config.origin_year
            return StartPoint(
                first,
                {**block, "origin_year": origin},
                parent=snap.snapshot_id,
                verified=snap,
                restored=report,
            )
        log.info("new run: starting at %d", first)
        return StartPoint(first, {**block, "origin_year": first}, fresh=True)

    def _from_snapshot(
        self, store: Store, ref: int | str, block: Mapping[str, Any], *, first: int
    ) -> Manifest:
        """The snapshot ``--from-snapshot`` names, checked before anything changes.

        A year selects this database's and lineage's newest snapshot of it. A reference
        (id, tag, ``latest@Y``, run with ``@Y``) may name another lineage's or database's
        snapshot: the run then *forks* a new lineage from it (recorded as its ``parent``).
        """
        database = database_name(self.db)
        if isinstance(ref, int):
            snap = _lineage_snapshot(store, ref, block, database=database)
            self.emit(RunEvent("plan", f"restoring {snap.snapshot_id} (end of {ref})"))
            return snap
        snap = resolve(store, ref, database=database)
        if snap.year != first - 1:
            raise UsageError(
                f"--from-snapshot {ref} is the end of {snap.year}, not of {first - 1}",
                hint=f"use --years {snap.year + 1}-...",
            )
        fork = not same_lineage(snap.config, block)
        where = [] if belongs(snap, database) else [f"from database {owner_key(snap)}"]
        if fork:
            where.append(f"forking lineage {block['hash'][:8]} from lineage {lineage_label(snap)}")
        extra = f"; {', '.join(where)}" if where else ""
        self.emit(RunEvent("plan", f"restoring {snap.snapshot_id} (end of {snap.year}{extra})"))
        return snap

    def _resume(self, store: Store, block: Mapping[str, Any], years: tuple[int, int]) -> StartPoint:
        decision = plan_resume(store, self.config, db_path=self.db, years=years, block=block)
        self.emit(RunEvent("plan", decision.explain()))
        for w in decision.skipped:
            self.emit(RunEvent("warning", w))
        snap = decision.snapshot
        if decision.action == "start" or snap is None:
            moved = move_aside(self.db, "before-resume-from-start") if decision.moves_aside else ()
            origin = years[0]
            return StartPoint(
                years[0], {**block, "origin_year": origin}, decision=decision, moved_aside=moved
            )
        report = (
            self._restore(store, snap, plan=decision.plan) if decision.action == "restore" else None
        )
        # Either action leaves the database checked equal to snap: a restore checks what it
        # loaded (from the hot tier: the very file the snapshot was taken of, its xxh3
        # checked), "continue" found every partition matching.
        return StartPoint(
            snap.year + 1,
            {**block, "origin_year": snap.config.origin_year},
            parent=snap.snapshot_id,
            decision=decision,
            verified=snap,
            restored=report,
        )

    def _restore(
        self, store: Store, snap: Manifest, *, plan: RestorePlan | None = None
    ) -> RestoreReport:
        """Restore ``snap`` into the database (``plan``: one already made) and say which path
        it took."""
        report = restore(store, snap, db_path=self.db, progress=self.progress, plan=plan)
        if report.hot_fallback is not None:
            self.emit(RunEvent("warning", f"hot copy not used: {report.hot_fallback}"))
        if report.source != "none":
            self.emit(
                RunEvent(
                    "plan",
                    f"restored {snap.snapshot_id} from the {report.source} path "
                    f"({report.plan.strategy}) in {report.seconds:.2f}s",
                )
            )
        return report

    # ------------------------------------------------------------------ the years

    def run(self, start: StartPoint, *, last: int) -> tuple[YearResult, ...]:
        """Run years ``start.year``..``last``; the last snapshot has committed on return."""
        self.years_total = last - start.year + 1
        reuse = (
            ReuseIndex.from_store(self.store)
            if self.store is not None and self.store.has_marker()
            else ReuseIndex()
        )
        parent = start.parent
        self.prior = start.verified
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="navsnap-export")
        year = start.year
        try:
            self.before = self._table_rows(start.year)
            for year in range(start.year, last + 1):
                t0 = time.perf_counter()
                self.emit(RunEvent("start", f"year {year} started", started=year))
                rows = self._step(year)
                self._check_inputs(start.block, year)
                seconds = time.perf_counter() - t0
                self._settle()
                if self.store is None:
                    self._year_done(year, seconds, rows, None, 0.0)
                else:
                    parent = self._snapshot(
                        executor,
                        start,
                        reuse,
                        parent=parent,
                        year=year,
                        seconds=seconds,
                        rows=rows,
                        last=last,
                    )
                if not self.step.holds_connection:
                    self._close()
            self._settle()
        except DiskFullError:
            raise
        except (NavsnapError, duckdb.Error) as exc:
            # The database's own disk: the step, the commit or the next statement on a
            # database DuckDB invalidated after the failed write.
            if is_disk_full(exc, path=self.db):
                raise DiskFullError(
                    f"no space left on the disk of database {str(self.db)!r} in year {year}",
                    hint="free disk space, then run again with --resume; "
                    "every committed snapshot is intact",
                ) from exc
            raise
        finally:
            self._abandon()
            executor.shutdown(wait=True)
            self._close()
        if self.exact is not None and self.exact.year == last:
            # The database is exactly the last snapshot, fingerprinted from its rows, and
            # nothing has written it since: the first status need not scan it.
            record_written(self.db, self.exact)
        return tuple(self.results)

    def _step(self, year: int) -> dict[str, int]:
        """Run the step for ``year``, then count that year's rows per year-scoped table."""
        if self.step.holds_connection:
            if self.con is None:
                self.con = _connect(self.db, self.config)
        else:
            self._close()
        log_path = self.db.absolute().parent / "navsnap-logs" / f"{self.run_id}-{year}.log"
        log.info("year %d: running step %s", year, self.step.name)
        if self.progress is not None:
            self.progress(f"step {year}", 0, 1)
        with cancellable(self.con):
            self.step.run(
                year=year, con=self.con, db_path=self.db, config=self.config, log_path=log_path
            )
        if self.progress is not None:
            self.progress(f"step {year}", 1, 1)
        fault_point("after-step")
        if self.con is None:
            if not self.db.exists():
                raise StepError(
                    f"year {year}: the step left no database at {str(self.db.absolute())!r}; "
                    f"log: {log_path}",
                    year=year,
                    log_path=str(log_path),
                    hint="the step must write to {db}, the absolute path navsnap passes; "
                    "nothing was snapshotted for the year",
                )
            self.con = _connect(self.db, self.config)
        counts = count_rows(self.con, year=year, year_column=self.config.run.year_column)
        error = step_result_error(
            year,
            self.before,
            counts,
            db_path=self.db,
            year_column=self.config.run.year_column,
            log_path=None if self.step.holds_connection else log_path,
        )
        if error is not None:
            raise error
        self.before = counts.total
        return dict(counts.year)

    def _check_inputs(self, block: Mapping[str, Any], year: int) -> None:
        """DriftError when a declared input changed since the run hashed it at its start:
        the year's tables may then hold both versions, so the year is not snapshotted.
        Checked after each step, before its snapshot (each earlier year's check passed)."""
        recorded: Mapping[str, str] = block.get("inputs") or {}
        if not recorded:
            return
        now = self.config.input_hashes(outside=(self.db.resolve(),))
        if now == dict(recorded):
            return
        _, changed = config_diff({}, {}, recorded, now)
        names = ", ".join(c.path for c in changed)
        raise DriftError(
            f"year {year}: declared input {names} changed while the run was under way, so the "
            "year may be built from both versions; it was not snapshotted",
            changed_inputs=changed,
            hint="put the input back and run again with --resume (it redoes the year from the "
            "last snapshot), or start over with --force-restart",
        )

    def _table_rows(self, year: int) -> Mapping[str, int]:
        """Every table's rows before the first step ({} for a database not yet created)."""
        if not self.db.exists():
            return {}
        if self.con is None:
            self.con = _connect(self.db, self.config)
        try:
            return count_rows(self.con, year=year, year_column=self.config.run.year_column).total
        finally:
            if not self.step.holds_connection:
                self._close()

    def _snapshot(
        self,
        executor: ThreadPoolExecutor,
        start: StartPoint,
        reuse: ReuseIndex,
        *,
        parent: str | None,
        year: int,
        seconds: float,
        rows: dict[str, int],
        last: int,
    ) -> str:
        """Snapshot ``year``: now, or (overlap) exported while the next year's step runs.

        Returns the new snapshot's id, the parent of the next one.
        """
        assert self.store is not None and self.con is not None
        started = time.perf_counter()
        baseline = self._baseline()
        overlapped = self.overlap and year < last
        job = SnapshotJob.start(
            self.con,
            store=self.store,
            year=year,
            run_id=self.run_id,
            config=dict(start.block),
            options=self.options,
            db_path=self.db,
            reuse=reuse,
            parent=parent,
            progress=_with_year(self.progress, year),
            baseline=baseline,
            # The last year's snapshot has the CPU to itself: it may use a second cursor.
            parallel=not overlapped,
        )
        self.exact = None
        if overlapped:
            # Year Y's partitions no longer change: export them while Y+1 runs.
            self.pending = _Pending(executor.submit(job.finish), year, seconds, rows, started)
        else:
            manifest = job.finish()
            self._year_done(year, seconds, rows, manifest, time.perf_counter() - started)
            self.exact = manifest if baseline is None else None
        return job.snapshot_id

    def _baseline(self) -> Baseline | None:
        """What the next snapshot may trust (None: a deep snapshot).

        A lean snapshot needs the step's contract and the snapshot the database matched
        before the step ran; every ``deep_every``-th snapshot after a deep one (or after the
        start's full check) is deep again, and so is the first of a run without that check.
        """
        limit = self.config.snapshot.deep_every - 1
        if self.contract is None or self.prior is None or self.lean_streak >= limit:
            self.lean_streak = 0
            return None
        self.lean_streak += 1
        return Baseline(self.prior, self.contract)

    def _settle(self) -> None:
        """Wait for the pending snapshot to commit, then report its year."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        manifest = pending.future.result()
        self._year_done(
            pending.year,
            pending.seconds,
            pending.rows,
            manifest,
            time.perf_counter() - pending.started,
        )

    def _abandon(self) -> None:
        """After a failure: let a pending snapshot commit (or fail) before the error rises."""
        if self.pending is None:
            return
        try:
            self._settle()
        except Exception as exc:  # the step's error is the one to raise
            detail = exc.one_line() if isinstance(exc, NavsnapError) else str(exc)
            self.emit(RunEvent("warning", f"the previous year's snapshot failed too: {detail}"))

    def _year_done(
        self,
        year: int,
        seconds: float,
        rows: dict[str, int],
        manifest: Manifest | None,
        snap_seconds: float,
    ) -> None:
        if manifest is not None and self.store is not None:
            self.prior = manifest
            _auto_prune(self.store, self.config, self.emit)
        result = YearResult(
            year=year,
            seconds=round(seconds, 3),
            rows=rows,
            snapshot_id=manifest.snapshot_id if manifest else None,
            snapshot_seconds=round(snap_seconds, 3),
            snapshot_new_bytes=manifest.new_bytes if manifest else 0,
        )
        self.results.append(result)
        self.emit(RunEvent("year", f"year {year} done", result))
        if self.progress is not None:
            self.progress("years", len(self.results), self.years_total)

    def _close(self) -> None:
        if self.con is not None:
            self.con.close()
            self.con = None


def _with_year(progress: ProgressFn | None, year: int) -> ProgressFn | None:
    """A snapshot's progress phases (``fingerprint``, ``export``) labelled with its year:
    it may be exported while the next year's step runs."""
    if progress is None:
        return None
    report = progress

    def labelled(phase: str, done: int, total: int) -> None:
        report(f"{phase} {year}", done, total)

    return labelled


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
        log.info(
            "retention removed %d snapshot(s), %d object(s)",
            len(report.removed_manifests),
            len(report.removed_objects),
        )
        emit(
            RunEvent(
                "plan",
                f"retention: removed {len(report.removed_manifests)} snapshot(s) "
                f"({', '.join(report.removed_manifests) or '-'}) and "
                f"{len(report.removed_objects)} object(s), {report.freed_bytes} bytes",
            )
        )


def _lineage_snapshot(
    store: Store, year: int, block: Mapping[str, Any], *, database: str
) -> Manifest:
    """This database's and lineage's newest snapshot of ``year`` (``--from-snapshot YEAR``)."""
    # The whole store is weighed, not the year's snapshots alone: another year's snapshot
    # may be what shows that an old manifest's catalog name is shared (navsnap.identity).
    pool = read_all(store)[0]
    newest = newest_of(
        pool,
        database,
        keep=lambda m: m.year == year and same_lineage(m.config, block),
        hint=lambda m: f"name it: --from-snapshot {m.snapshot_id}",
    )
    if newest is not None:
        return newest
    manifests = [m for m in snapshots_of(pool, database, strict=False) if m.year == year]
    if manifests:
        raise drift_error(max(manifests, key=lambda m: m.created_at), block)
    others = sorted({owner_key(m) for m in pool if m.year == year})
    raise SnapshotNotFound(
        f"no snapshot of database {database} for year {year} in {store.url!r}"
        + (f" (database {', '.join(others)} has one)" if others else ""),
        hint="see 'navsnap list'; name another database's snapshot by its id to fork it",
    )
