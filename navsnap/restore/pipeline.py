"""The restore pipeline: plan -> fetch -> build -> check -> swap (see the package docstring)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from navsnap import engine
from navsnap.ahead import connect_ahead
from navsnap.dbfile import (
    dead_temps,
    raise_if_in_use,
    remove_with_wal,
    swap_into_place,
    temp_beside,
    wal_path,
)
from navsnap.errors import DatabaseError, DiskFullError, RestoreError, cause
from navsnap.fsutil import fsync_behind, is_disk_full
from navsnap.hot import HotUnusable, unpack
from navsnap.manifest import Manifest
from navsnap.restore.build import (
    apply_delta,
    build_file,
    build_full,
    check_hot_copy,
    open_for_delta,
    refuse_lost_constraints,
)
from navsnap.restore.fetch import fetch
from navsnap.restore.plan import PartitionAction, RestorePlan, plan_restore
from navsnap.restore.record import forget, record
from navsnap.statcache import FileIdentity
from navsnap.store import Store

__all__ = ["RestoreReport", "restore"]

ProgressFn = Callable[[str, int, int], None]

#: The temporary files of a full restore: ``.<name>.navsnap-restore-<pid>.tmp``.
_TEMP_PURPOSE = "restore"


@dataclass(frozen=True)
class RestoreReport:
    plan: RestorePlan
    moved_aside: tuple[str, ...] = ()
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    #: What the user should know about the choice of snapshot ("from database big, ...").
    notes: tuple[str, ...] = ()
    #: Where the data came from: "hot" (the hot tier's file copy), "parquet", "file"
    #: (a whole-file snapshot) or "none" (nothing restored).
    source: str = "none"
    #: Why the snapshot's hot copy was not used, when it has one and the Parquet path ran.
    hot_fallback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "source": self.source,
            "hot_fallback": self.hot_fallback,
            "notes": list(self.notes),
            "moved_aside": list(self.moved_aside),
            "seconds": round(self.seconds, 3),
            "timings": self.timings,
        }


def restore(
    store: Store,
    manifest: Manifest,
    *,
    db_path: str | os.PathLike[str],
    to: str | os.PathLike[str] | None = None,
    tables: Sequence[str] | None = None,
    dry_run: bool = False,
    allow_delta: bool = True,
    progress: ProgressFn | None = None,
    plan: RestorePlan | None = None,
) -> RestoreReport:
    """Restore ``manifest`` into ``db_path`` (or ``to``). See :mod:`navsnap.restore`.

    ``plan``: this restore's plan, made by the caller under the lock it still holds (the
    resume decision's), so the live database is not fingerprinted again.
    """
    t0 = time.perf_counter()
    engine.check_restorable(manifest)
    live: duckdb.DuckDBPyConnection | None = None
    try:
        if plan is None or plan.snapshot_id != manifest.snapshot_id:
            if not dry_run and allow_delta:
                live = _open_live(manifest, Path(db_path), to=to)
            plan = plan_restore(
                store,
                manifest,
                db_path=db_path,
                to=to,
                tables=tables,
                allow_delta=allow_delta,
                con=live,
            )
        if live is not None and plan.strategy != "delta":
            live.close()  # the plan's reads only: nothing is written
            live = None
        return _carry_out(
            store,
            manifest,
            plan,
            db_path=db_path,
            to=to,
            tables=tables,
            dry_run=dry_run,
            progress=progress,
            live=live,
            t0=t0,
        )
    finally:
        if live is not None:
            live.close()


def _open_live(
    manifest: Manifest, db_path: Path, *, to: str | os.PathLike[str] | None
) -> duckdb.DuckDBPyConnection | None:
    """The live database opened once for a delta's plan and rewrite
    (:func:`~navsnap.restore.build.open_for_delta`), when a delta of it may follow: restored
    in place, from Parquet (a hot copy is tried first, and swaps the file), and without a
    ``.wal`` (opening it read-write would replay it into the file that a full restore keeps
    aside as it was). None otherwise, or when it does not open read-write: the plan opens
    it read-only and says why."""
    if to is not None or manifest.mode == "file" or manifest.hot is not None:
        return None
    if not db_path.is_file() or wal_path(db_path).exists():
        return None
    try:
        return open_for_delta(db_path)
    except duckdb.Error:
        return None


def _carry_out(
    store: Store,
    manifest: Manifest,
    plan: RestorePlan,
    *,
    db_path: str | os.PathLike[str],
    to: str | os.PathLike[str] | None,
    tables: Sequence[str] | None,
    dry_run: bool,
    progress: ProgressFn | None,
    live: duckdb.DuckDBPyConnection | None,
    t0: float,
) -> RestoreReport:
    """The restore of ``plan``; ``live``: the connection a delta was planned on."""
    hot_possible = manifest.hot is not None and not tables
    if not hot_possible:  # so that a dry run refuses what the restore would
        _refuse_rebuild(manifest, plan)
    if dry_run or plan.strategy == "none":
        return RestoreReport(plan=plan, seconds=time.perf_counter() - t0)
    target = Path(plan.target)
    if not target.parent.exists():
        raise DatabaseError(
            f"directory {str(target.parent)!r} does not exist", hint="create it first"
        )
    hot_fallback: str | None = None
    if hot_possible and plan.strategy in ("full", "delta"):
        try:
            return _restore_hot(store, manifest, plan, target, t0=t0)
        except HotUnusable as exc:
            hot_fallback = exc.reason
        _refuse_rebuild(manifest, plan)  # the Parquet path after all: before any fetch
    report = _restore_parquet(
        store,
        manifest,
        plan,
        target,
        db_path=db_path,
        to=to,
        tables=tables,
        progress=progress,
        live=live,
        recorded=to is None and not tables,
    )
    return replace(
        report,
        seconds=time.perf_counter() - t0,
        hot_fallback=hot_fallback,
        timings={**report.timings, "total_s": time.perf_counter() - t0},
    )


def _refuse_rebuild(manifest: Manifest, plan: RestorePlan) -> None:
    """A full rebuild from Parquet that could not give a table back exactly is refused
    here, before anything is fetched (:func:`navsnap.restore.build.refuse_lost_constraints`;
    a whole-file or hot copy holds the table as it was, a delta rebuilds no table)."""
    if plan.strategy != "full" or manifest.mode != "parquet":
        return
    wanted = set(plan.tables)
    refuse_lost_constraints(manifest, [e for e in manifest.tables if e.name in wanted])


def _fresh_temp(target: Path) -> Path:
    tmp = temp_beside(target, _TEMP_PURPOSE)
    remove_with_wal(tmp)
    for leftover in dead_temps(target, _TEMP_PURPOSE):
        leftover.unlink(missing_ok=True)
    return tmp


def _disk_full(exc: BaseException, manifest: Manifest, tmp: Path, target: Path) -> None:
    if is_disk_full(exc, path=tmp):
        raise DiskFullError(
            f"no space left while restoring {manifest.snapshot_id} into {str(target)!r}",
            hint="free disk space and run the command again; nothing was changed",
        ) from None


#: What DuckDB raises when it refuses the snapshot's DDL or rows as navsnap writes them back
#: (a constraint, a type, a cast): not a sign of damage, as every object matched its hash.
_REFUSALS: tuple[type[duckdb.Error], ...] = (
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConstraintException,
    duckdb.ConversionException,
    duckdb.NotImplementedException,
    duckdb.ParserException,
)


def _load_error(exc: duckdb.Error, manifest: Manifest, target: Path) -> RestoreError:
    """The RestoreError for a full build that DuckDB stopped with ``exc``.

    The objects were checked against their hashes before the build (:mod:`.fetch`), so when
    DuckDB refuses the snapshot's DDL or rows, the snapshot is intact and navsnap failed to
    rebuild it: a bug to report, not damage to look for. Any other error (reading a file)
    may come from the store, and ``verify --deep`` says."""
    detail = str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, _REFUSALS):
        return RestoreError(
            f"navsnap could not rebuild {manifest.snapshot_id} into {str(target)!r} under "
            f"DuckDB {engine.VERSION}: {detail}",
            hint="nothing was changed; the snapshot is intact (its objects match their "
            "hashes): this is a navsnap bug, please report it with this message",
        )
    return RestoreError(
        f"restoring {manifest.snapshot_id} into {str(target)!r} failed: {detail}",
        hint="nothing was changed; run 'navsnap verify --deep' on the snapshot",
    )


def _restore_hot(
    store: Store, manifest: Manifest, plan: RestorePlan, target: Path, *, t0: float
) -> RestoreReport:
    """Restore from the hot tier's copy: unpack it beside the target, hashing it as it is
    written (while DuckDB starts in a thread), check its hash, then its catalog and its row
    counts while it is fsynced (the checks only read it), then swap it in
    (:func:`navsnap.dbfile.swap_into_place`) once both are done. HotUnusable (nothing
    changed) when any of that fails before the swap."""
    assert manifest.hot is not None
    tmp = _fresh_temp(target)
    timings: dict[str, float] = {}
    try:
        # DuckDB's instance is made in a thread while the copy is written (both mostly
        # outside the GIL); the copy is attached to it read-only for its checks.
        with connect_ahead() as ready:
            t1 = time.perf_counter()
            method = unpack(manifest.hot, store=store, dest=tmp)
            timings["unpack_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            with fsync_behind(tmp):
                check_hot_copy(tmp, manifest, con=ready())
                timings["check_s"] = time.perf_counter() - t2
            timings["fsync_wait_s"] = time.perf_counter() - t2 - timings["check_s"]
        forget(target)  # a hot copy is never recorded (navsnap.restore.record)
        moved = swap_into_place(tmp, target, reason=f"before-restore-{manifest.snapshot_id}")
    except BaseException as exc:
        remove_with_wal(tmp)
        _disk_full(exc, manifest, tmp, target)
        raise
    timings["total_s"] = time.perf_counter() - t0
    hot_plan = replace(
        plan,
        strategy="hot",
        reason=f"hot copy of the year-end ({method})",
        actions=(PartitionAction("<hot copy>", None, "load", 0, manifest.hot.object.size),),
        comments=(),
    )
    return RestoreReport(
        plan=hot_plan,
        moved_aside=moved,
        seconds=time.perf_counter() - t0,
        timings=timings,
        source="hot",
    )


def _restore_parquet(
    store: Store,
    manifest: Manifest,
    plan: RestorePlan,
    target: Path,
    *,
    db_path: str | os.PathLike[str],
    to: str | os.PathLike[str] | None,
    tables: Sequence[str] | None,
    progress: ProgressFn | None,
    live: duckdb.DuckDBPyConnection | None = None,
    recorded: bool = False,
) -> RestoreReport:
    """The Parquet (or whole-file snapshot) path: fetch, build or delta, check, swap.
    ``live``: the connection the delta was planned on (closed by the delta). ``recorded``:
    every table restored in place, so the stat record may say which snapshot the database
    now is (:mod:`navsnap.restore.record`)."""
    t0 = time.perf_counter()
    source = "file" if plan.strategy == "file" else "parquet"
    t1 = time.perf_counter()
    fetch(store, manifest, plan, progress=progress)
    timings: dict[str, float] = {"verify_s": time.perf_counter() - t1}

    if plan.strategy == "delta":
        # Planned on the connection it commits on: one transaction checked the whole file.
        one_open = live is not None
        forget(target)
        try:
            apply_delta(store, manifest, plan, target, con=live)
        except (duckdb.Error, RestoreError) as exc:
            # The live file opened but fails while being rewritten (damaged blocks), or the
            # rewrite did not check out: the transaction rolled back; rebuild it whole.
            if isinstance(exc, duckdb.Error):
                raise_if_in_use(exc, target)
            if tables:
                raise RestoreError(
                    f"could not rewrite tables in {str(target)!r}: {str(exc).splitlines()[0]}",
                    hint="nothing was changed; restore --to another path instead",
                ) from None
            full = plan_restore(store, manifest, db_path=db_path, to=to, allow_delta=False)
            plan = replace(full, reason=f"delta failed: {cause(exc, width=100)}")
        else:
            if recorded and one_open:
                t2 = time.perf_counter()
                record(target, manifest)
                timings["record_s"] = time.perf_counter() - t2
            timings["total_s"] = time.perf_counter() - t0
            return RestoreReport(
                plan=plan, seconds=time.perf_counter() - t0, timings=timings, source=source
            )

    tmp = _fresh_temp(target)
    checked: FileIdentity | None = None
    try:
        if plan.strategy == "file":
            build_file(store, manifest, tmp)
        else:
            timings.update(build_full(store, manifest, plan, tmp, progress=progress))
            checked = FileIdentity.of(tmp)  # the file just checked, closed and fsynced
        forget(target)
        moved = swap_into_place(tmp, target, reason=f"before-restore-{manifest.snapshot_id}")
    except BaseException as exc:
        remove_with_wal(tmp)
        _disk_full(exc, manifest, tmp, target)
        if isinstance(exc, duckdb.Error):
            raise _load_error(exc, manifest, target) from exc
        raise
    if recorded and checked is not None:
        t2 = time.perf_counter()
        record(target, manifest, checked=checked)
        timings["record_s"] = time.perf_counter() - t2
    timings["total_s"] = time.perf_counter() - t0
    return RestoreReport(
        plan=plan,
        moved_aside=moved,
        seconds=time.perf_counter() - t0,
        timings=timings,
        source=source,
    )
