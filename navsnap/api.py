"""The Python API: one function per CLI command. The CLI calls these and nothing else."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from navsnap.dbfile import checked_path, separate_target
from navsnap.errors import (
    DatabaseError,
    IntegrityError,
    SnapshotNotFound,
    UsageError,
    check_non_negative,
)
from navsnap.identity import database_name, foreign_note, lineage_label, owner_key, snapshots_of
from navsnap.index import LATEST, read_all, resolve
from navsnap.locate import resolve_store
from navsnap.store import Store, open_store
from navsnap.years import year_span

# What ``status`` does not need is imported by the functions that use it, so that
# ``navsnap status`` starts fast (tests/test_startup.py lists what it must not import).
if TYPE_CHECKING:
    import duckdb

    from navsnap.analyst import AttachReport, QueryResult
    from navsnap.config import Config
    from navsnap.diff import ManifestDiff
    from navsnap.lock import UnlockReport
    from navsnap.manifest import Manifest
    from navsnap.restore import RestoreReport
    from navsnap.resume import ResumeDecision
    from navsnap.retention import PruneReport, RetentionPolicy
    from navsnap.runner import RunEvent, RunReport
    from navsnap.snapshot import ProgressFn
    from navsnap.summary import StoreInfo
    from navsnap.tags import TagChange
    from navsnap.verify import VerifyReport

__all__ = [
    "SnapshotSummary",
    "attach",
    "checkpoint",
    "diff",
    "info",
    "list_snapshots",
    "prune",
    "restore",
    "resume",
    "show",
    "sql",
    "status",
    "tag",
    "unlock",
    "untag",
    "verify",
]

PathLike = str | os.PathLike[str]


def _store(store: Store | PathLike | None, db: Path, config: Config | None = None) -> Store:
    return resolve_store(store, config=config, db_path=db)


def _year_arg(value: object, name: str = "year") -> None:
    """UsageError unless ``value`` is None or a year as an int: ``year="2027"`` would
    otherwise find no snapshot of "2027" and say none exists."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(
            f"{name} must be a year as an int, not {value!r}", hint=f"pass {name}=2027, unquoted"
        )


def _text_arg(value: object, name: str) -> None:
    """UsageError unless ``value`` is None or a string (a snapshot reference, a run id)."""
    if value is not None and not isinstance(value, str):
        raise UsageError(
            f"{name} must be a string, not {type(value).__name__}",
            hint=f"pass {name} as text, e.g. an id from navsnap.list_snapshots",
        )


def checkpoint(
    *,
    db: PathLike,
    year: int,
    store: Store | PathLike | None = None,
    config: Config | None = None,
    run_id: str | None = None,
    mode: str | None = None,
    wait_lock: float = 0.0,
    progress: ProgressFn | None = None,
    warnings: list[str] | None = None,
) -> Manifest:
    """Snapshot an existing database as the end of ``year`` (for pipelines run outside navsnap).

    ``config`` None inherits the configuration of this database's newest snapshot in the
    store, without its checks (check SQL is never taken from a store; a line saying so is
    appended to ``warnings``; a database of the built-in simulation with none: the
    defaults); otherwise the
    checkpoint is refused (ConfigError), as is a configuration the database evidently was
    not built with. ``year`` must be the newest year the year-scoped tables hold rows for
    (UsageError). Nothing is written before these checks pass.

    The database is opened read-only (whole-file mode opens it read-write for its CHECKPOINT).
    ``store`` None means the config's ``[snapshot] store``, else ``snapshots/`` beside it.
    ``run_id`` (None: a new one) must be letters, digits, ``._-`` (at most 100), starting with
    a letter or digit (UsageError, before anything else).
    """
    from navsnap.catalog import list_tables
    from navsnap.lock import db_lock
    from navsnap.manual import check_year, checkpoint_config
    from navsnap.snapshot import SnapshotOptions, check_run_id, new_run_id, take_snapshot
    from navsnap.steps import parse_step

    _year_arg(year)
    if year is None:
        raise UsageError("checkpoint needs the year the database ends", hint="pass year=2029")
    if run_id is not None:
        check_run_id(run_id)
    given = Path(db)
    db_path = checked_path(given)
    if not db_path.exists():
        raise DatabaseError(
            f"database {str(given)!r} does not exist", hint="check the path given to --db"
        )
    st = _store(store, given, config)
    with db_lock(db_path, purpose="navsnap checkpoint", wait=wait_lock):
        con = _connect_existing(db_path, read_only=True)
        try:
            chosen = checkpoint_config(
                config,
                store=st,
                db_path=db_path,
                builtin_tables=parse_step("builtin").owns_database(con),
                warnings=warnings,
            )
            cfg = chosen.config
            opts = SnapshotOptions.from_config(cfg, step=chosen.step, mode=mode)
            chosen.step.check_database(con, config=cfg, db_path=db_path)
            check_year(
                con,
                list_tables(con, year_column=cfg.run.year_column),
                year=year,
                year_column=cfg.run.year_column,
                db_path=db_path,
            )
            if opts.mode == "file":  # its CHECKPOINT needs a read-write connection
                con.close()
                con = _connect_existing(db_path, read_only=False)
            last = chosen.inherited_from
            if cfg.run.threads:  # as a run's connection: [run] threads = 1 is one thread
                con.execute(f"SET threads = {int(cfg.run.threads)}")
            return take_snapshot(
                con,
                store=st,
                year=year,
                run_id=run_id or new_run_id(),
                config=chosen.block,
                options=opts,
                db_path=db_path,
                parent=(last.snapshot_id if last.year < year else last.parent) if last else None,
                progress=progress,
                # Nothing else writes the database meanwhile: navsnap holds its lock and
                # opened it read-only, so a second cursor may be pinned beside the first.
                parallel=True,
            )
        finally:
            con.close()


def _connect_existing(db_path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    import duckdb

    from navsnap.dbfile import raise_if_in_use

    try:
        return duckdb.connect(str(db_path), read_only=read_only)
    except duckdb.Error as exc:
        raise_if_in_use(exc, db_path)  # open elsewhere, not damaged: never advise a restore
        raise DatabaseError(
            f"database {str(db_path)!r} cannot be opened: {str(exc).splitlines()[0]}",
            hint="restore it with 'navsnap restore'",
        ) from None


def restore(
    *,
    store: Store | PathLike | None = None,
    db: PathLike = "simulation.duckdb",
    snapshot: str | None = None,
    year: int | None = None,
    run: str | None = None,
    to: PathLike | None = None,
    tables: list[str] | None = None,
    dry_run: bool = False,
    wait_lock: float = 0.0,
    progress: ProgressFn | None = None,
) -> RestoreReport:
    """Restore a snapshot (by id or tag, or the newest of ``year``/``run``) into ``db``/``to``.

    ``tables`` None restores every table; a list restores only those (an empty one is a
    UsageError, not a full restore)."""
    from navsnap.fallback import damaged_manifest_error, with_fallback_hint
    from navsnap.lock import db_lock
    from navsnap.restore import restore as _restore

    _year_arg(year)
    _text_arg(snapshot, "snapshot")
    _text_arg(run, "run")
    if snapshot is None and year is None:
        raise UsageError("say which snapshot to restore", hint="pass SNAPSHOT or --year Y")
    if tables is not None and (
        isinstance(tables, str)
        or not isinstance(tables, list | tuple)
        or not all(isinstance(t, str) for t in tables)
    ):
        raise UsageError(
            f"tables must be a list of table names, not {tables!r}",
            hint="pass tables=['census'], or None for every table",
        )
    if tables is not None and not tables:
        raise UsageError(
            "--tables names no table",
            hint="give table names separated by commas, or leave out --tables to restore all",
        )
    given = Path(db)
    st = _store(store, given)
    # Checked (and a symlink resolved) before the store is read: nothing is fetched for a
    # target that can never be written.
    db_path = checked_path(given)
    dest = checked_path(Path(to), option="--to") if to is not None else None
    if dest is not None:
        # Inside the store, never. The same file as ``db`` is for the command line to
        # refuse (``--to`` promises to leave the live database alone); a caller of this
        # function may name one path for both (the pytest plugin restores a fixture so).
        separate_target(dest, option="--to", store_root=_local_root(st))
    st.check_readable()
    manifest: Manifest | None = None
    database = database_name(given)
    try:
        try:
            manifest = resolve(st, snapshot, year=year, run=run, database=database)
        except SnapshotNotFound:
            damaged = damaged_manifest_error(st, year, run) if snapshot is None and year else None
            if damaged is None:
                raise
            raise damaged from None
        target = dest if dest is not None else db_path
        note = foreign_note(manifest, database)
        notes = (note,) if note else ()
        if dry_run:
            report = _restore(st, manifest, db_path=db_path, to=dest, tables=tables, dry_run=True)
            return dataclasses.replace(report, notes=notes)
        if not target.parent.is_dir():  # before the lock, whose file would create it
            raise DatabaseError(
                f"directory {str(target.parent)!r} does not exist", hint="create it first"
            )
        with db_lock(target, purpose="navsnap restore", wait=wait_lock):
            report = _restore(
                st, manifest, db_path=db_path, to=dest, tables=tables, progress=progress
            )
        return dataclasses.replace(report, notes=notes)
    except IntegrityError as exc:
        # A damaged snapshot: name the newest older one of its lineage that is intact.
        raise with_fallback_hint(st, exc, manifest) from None


@dataclass(frozen=True)
class SnapshotSummary:
    snapshot_id: str
    run_id: str
    year: int
    created_at: str
    mode: str
    copy_method: str | None
    tables: int
    rows: int
    bytes_total: int
    bytes_new: int
    config_hash: str
    tags: tuple[str, ...]
    verified_at: str | None
    #: The database the snapshot was taken of (:func:`navsnap.identity.owner_key`: the
    #: manifest's ``database_id``, or its catalog name marked as such when it has none).
    database: str = ""
    #: The snapshot this one continues (None: the first of its chain).
    parent: str | None = None
    #: When the last verify that found this snapshot damaged ran (None: never damaged).
    damaged_at: str | None = None
    #: The short lineage label (the configuration hash's first 8 hex digits).
    lineage: str = ""
    #: The parent, when it is of another lineage or database: this snapshot starts a fork.
    fork_of: str | None = None
    #: Bytes of its hot-tier copy while the copy is live (0: none, or released).
    hot_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, tags=list(self.tags))


class SnapshotListing(NamedTuple):
    """What :func:`list_snapshots` returns; unpacks as ``snapshots, damaged`` as before."""

    #: Every readable snapshot, oldest first.
    snapshots: list[SnapshotSummary]
    #: One line per manifest that could not be read (``<id>: <why>``).
    damaged: list[str]


def list_snapshots(
    store: Store | PathLike,
    *,
    db: PathLike | None = None,
    year: int | None = None,
    run: str | None = None,
    tag: str | None = None,
) -> SnapshotListing:
    """Every snapshot (oldest first) and one line per damaged manifest; ``db`` keeps the
    snapshots of that file's database, ``year``, ``run`` (id or prefix) and ``tag`` filter."""
    _year_arg(year)
    _text_arg(run, "run")
    _text_arg(tag, "tag")
    st = store if isinstance(store, Store) else open_store(store)
    st.check_readable()
    everything, broken = read_all(st)
    from navsnap.index import tags as read_tags

    by_snapshot: dict[str, list[str]] = {}
    for name, sid in read_tags(st).items():
        by_snapshot.setdefault(sid, []).append(name)
    by_id = {m.snapshot_id: m for m in everything}
    own = (
        {m.snapshot_id for m in snapshots_of(everything, database_name(db), strict=False)}
        if db is not None
        else set()
    )
    manifests = [
        m
        for m in everything
        if (db is None or m.snapshot_id in own)
        and (year is None or m.year == year)
        and (run is None or m.run_id.startswith(run))
        and (tag is None or tag in by_snapshot.get(m.snapshot_id, []))
    ]
    verified = _verified_times(st)
    damaged = _damaged_times(st)
    from navsnap.hotwindow import live_hot_snapshots

    hot = live_hot_snapshots(everything)
    out = [
        SnapshotSummary(
            snapshot_id=m.snapshot_id,
            run_id=m.run_id,
            year=m.year,
            created_at=m.created_at,
            mode=m.mode,
            copy_method=m.file.method if m.file else None,
            tables=len(m.tables),
            rows=m.total_rows,
            bytes_total=m.total_bytes,
            bytes_new=m.new_bytes,
            config_hash=m.config_hash,
            tags=tuple(sorted(by_snapshot.get(m.snapshot_id, []))),
            verified_at=verified.get(m.snapshot_id),
            database=owner_key(m),
            parent=m.parent,
            damaged_at=damaged.get(m.snapshot_id),
            lineage=lineage_label(m),
            fork_of=_fork_of(m, by_id),
            hot_bytes=m.hot_bytes if m.snapshot_id in hot else 0,
        )
        for m in manifests
    ]
    return SnapshotListing(out, [f"{b.snapshot_id}: {b.error}" for b in broken])


def _fork_of(m: Manifest, by_id: dict[str, Manifest]) -> str | None:
    """``m``'s parent when the parent is of another lineage or database (a fork)."""
    parent = by_id.get(m.parent) if m.parent else None
    if parent is None:
        return None
    if parent.config_hash != m.config_hash or owner_key(parent) != owner_key(m):
        return parent.snapshot_id
    return None


def _verified_times(st: Store) -> dict[str, str]:
    try:
        from navsnap.verify import last_verified
    except ImportError:
        return {}
    return dict(last_verified(st))


def _damaged_times(st: Store) -> dict[str, str]:
    try:
        from navsnap.verify import last_damaged
    except ImportError:
        return {}
    return dict(last_damaged(st))


def _scope(db: PathLike | None) -> str | None:
    """The database whose snapshots ``latest`` and year selections choose among."""
    return database_name(db) if db is not None else None


def show(
    store: Store | PathLike,
    ref: str | None = None,
    *,
    year: int | None = None,
    db: PathLike | None = None,
) -> Manifest:
    """The manifest of one snapshot: an id, unique prefix or tag; a run with ``year``; or
    ``latest``/``latest@YEAR`` (or no ``ref``, with ``year``) of ``db``'s database."""
    _year_arg(year)
    _text_arg(ref, "ref")
    st = store if isinstance(store, Store) else open_store(store)
    st.check_readable()
    return select(st, ref, year=year, db=db)


def parent_of(store: Store | PathLike, manifest: Manifest) -> Manifest | None:
    """The snapshot ``manifest`` continued (None: none, or no longer in the store)."""
    if manifest.parent is None:
        return None
    st = _open(store)
    try:
        return st.load_manifest(manifest.parent)
    except (SnapshotNotFound, IntegrityError):  # pruned or damaged: shown as a plain parent
        return None


def select(
    store: Store, ref: str | None, *, year: int | None = None, db: PathLike | None = None
) -> Manifest:
    """One snapshot for the commands that read one (show, sql, attach, tag, diff)."""
    if ref is None and year is None:
        raise UsageError("say which snapshot", hint="pass SNAPSHOT, latest, or --year Y")
    return resolve(store, ref, year=year, database=_scope(db))


def resume(
    config: Config,
    *,
    db: PathLike | None = None,
    years: str | tuple[int, int] | None = None,
    store: Store | PathLike | None = None,
    wait_lock: float = 0.0,
    on_event: Callable[[RunEvent], None] | None = None,
    progress: ProgressFn | None = None,
    db_path: PathLike | None = None,
) -> RunReport:
    """``run(..., resume=True)``: continue the chain the database is on (this database's and
    configuration's snapshots; see :mod:`navsnap.resume`).

    ``db_path`` is the deprecated name of ``db``.
    """
    from navsnap.runner import db_argument, run

    return run(
        config,
        db=db_argument(db, db_path, caller="resume"),
        years=years,
        store=store if isinstance(store, Store) or store is None else os.fspath(store),
        resume=True,
        wait_lock=wait_lock,
        on_event=on_event,
        progress=progress,
    )


def status(
    config: Config,
    *,
    db: PathLike,
    years: str | tuple[int, int] | None = None,
    store: Store | PathLike | None = None,
    deep: bool = False,
) -> ResumeDecision:
    """What ``run --resume`` would do, and why, without doing it (the same decision).

    ``store`` None means the config's ``[snapshot] store``, else ``snapshots/`` beside ``db``.
    A valid stat cache beside the database (:mod:`navsnap.statcache`) answers "the database
    matches snapshot X" without fingerprinting it (``from_cache`` in the decision); ``deep``
    fingerprints it anyway. ``run --resume`` never trusts the cache.
    """
    given = Path(db)
    span = year_span(years, config)
    db_path = checked_path(given)
    from navsnap.resume import plan_resume

    return plan_resume(
        _store(store, given, config), config, db_path=db_path, years=span, use_cache=not deep
    )


# --------------------------------------------------------------------------- maintenance


def _open(store: Store | PathLike) -> Store:
    return store if isinstance(store, Store) else open_store(store)


def verify(
    store: Store | PathLike,
    snapshots: list[str] | None = None,
    *,
    deep: bool = False,
    sample_pct: float | None = None,
    since_hours: float | None = None,
    progress: ProgressFn | None = None,
    db: PathLike | None = None,
) -> VerifyReport:
    """Verify snapshots (ids, prefixes, tags, ``latest``/``latest@YEAR`` of ``db``'s
    database), or the whole store when none are given."""
    from navsnap.verify import verify as _verify

    if sample_pct is not None and not 0 < sample_pct <= 100:
        raise UsageError(f"--sample {sample_pct} is out of range", hint="give a percentage 0-100")
    if since_hours is not None:
        check_non_negative(since_hours, "since_hours")
    st = _open(store)
    # latest and NAME@YEAR are resolved here, within db's database; ids, prefixes and tags
    # go to verify as given (it reports damaged manifests by name).
    refs = [
        resolve(st, r, database=_scope(db)).snapshot_id if "@" in r or r == LATEST else r
        for r in snapshots or ()
    ]
    return _verify(
        st,
        refs,
        deep=deep,
        sample_pct=sample_pct,
        since_hours=since_hours,
        progress=progress,
    )


def diff(
    store: Store | PathLike,
    a: str,
    b: str,
    *,
    year: int | None = None,
    db: PathLike | None = None,
) -> ManifestDiff:
    """What differs from snapshot ``a`` to snapshot ``b`` (ids, prefixes, tags, ``latest``;
    with ``year``, runs or scenarios compared at that year)."""
    from navsnap.diff import diff_manifests

    st = _open(store)
    st.check_readable()
    return diff_manifests(select(st, a, year=year, db=db), select(st, b, year=year, db=db))


def prune(
    store: Store | PathLike,
    *,
    policy: RetentionPolicy | None = None,
    config: Config | None = None,
    grace_minutes: float | None = None,
    dry_run: bool = False,
    wait_lock: float = 0.0,
    progress: ProgressFn | None = None,
) -> PruneReport:
    """Apply a retention policy (``policy``, else the config's ``[retention]``), then remove
    unreferenced objects older than ``grace_minutes``."""
    from navsnap.retention import DEFAULT_GRACE_MINUTES, RetentionPolicy
    from navsnap.retention import prune as _prune

    # nan would pass any range check and switch the grace period off: fresh objects of a
    # checkpoint in progress would be removed.
    if grace_minutes is not None:
        check_non_negative(grace_minutes, "grace_minutes")

    if policy is None or not policy.active:
        cfg_policy = RetentionPolicy.from_config(config.retention) if config else None
        if cfg_policy is not None and cfg_policy.active:
            grouping = policy.group_by if policy is not None else cfg_policy.group_by
            policy = dataclasses.replace(cfg_policy, group_by=grouping)
    return _prune(
        _open(store),
        policy or RetentionPolicy(),
        grace_minutes=DEFAULT_GRACE_MINUTES if grace_minutes is None else grace_minutes,
        dry_run=dry_run,
        wait_lock=wait_lock,
        progress=progress,
    )


def unlock(store: Store | PathLike, *, force: bool = False, dry_run: bool = False) -> UnlockReport:
    """Remove the store's locks whose holder is gone (the automatic takeover's rule); a live
    lock of another host only with ``force``; never a live process on this host."""
    from navsnap.lock import unlock as _unlock

    st = _open(store)
    st.check_readable()
    return _unlock(st, force=force, dry_run=dry_run)


def info(store: Store | PathLike) -> StoreInfo:
    """The store at a glance, per database: runs, snapshots, newest year, stored and logical
    bytes (the dedup ratio), the last verify and the snapshots it found damaged."""
    from navsnap.summary import store_info

    return store_info(_open(store))


def tag(
    store: Store | PathLike,
    snapshot: str,
    name: str,
    *,
    force: bool = False,
    year: int | None = None,
    db: PathLike | None = None,
) -> TagChange:
    """Pin ``snapshot`` under the tag ``name`` (tagged snapshots are never pruned)."""
    from navsnap.tags import tag as _tag

    st = _open(store)
    st.check_readable()
    manifest = select(st, snapshot, year=year, db=db)
    return _tag(st, manifest.snapshot_id, name, force=force)


def untag(store: Store | PathLike, name: str) -> TagChange:
    """Remove the tag ``name`` (the snapshot stays)."""
    from navsnap.tags import untag as _untag

    return _untag(_open(store), name)


def sql(
    store: Store | PathLike,
    ref: str,
    query: str,
    *,
    year: int | None = None,
    db: PathLike | None = None,
) -> QueryResult:
    """Run ``query`` over one snapshot's tables (views over its Parquet; nothing restored)."""
    st = _open(store)
    st.check_readable()
    from navsnap.analyst import run_query

    return run_query(st, select(st, ref, year=year, db=db), query)


def attach(
    store: Store | PathLike,
    ref: str,
    out: PathLike,
    *,
    overwrite: bool = False,
    year: int | None = None,
    db: PathLike | None = None,
) -> AttachReport:
    """Write a small DuckDB file of views over one snapshot's Parquet objects."""
    st = _open(store)
    st.check_readable()
    from navsnap.analyst import write_attach_file

    separate_target(
        checked_path(Path(out), option="--out"),
        option="--out",
        db=checked_path(Path(db)) if db is not None else None,
        store_root=_local_root(st),
    )
    return write_attach_file(st, select(st, ref, year=year, db=db), out, overwrite=overwrite)


def _local_root(store: Store) -> Path | None:
    """The folder of a local store (None for a remote one)."""
    root = getattr(store.backend, "root", None)
    return root if store.capabilities.local_paths and isinstance(root, Path) else None
