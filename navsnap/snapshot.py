"""Taking a snapshot: the complete state of a database at a year boundary.

Write order (the commit protocol, ``docs/format.md``):

1. every Parquet object is written by DuckDB to a local staging file, hashed (xxh3-128) and
   published under its hash (temp name, fsync, rename; one PUT on object stores);
   partitions whose row fingerprint is already stored are not written again;
2. the manifest is written last, atomically. It is the only commit point: a crash before it
   leaves no snapshot, only unreferenced objects that the next checkpoint or prune removes.

Taking a snapshot never changes the database (whole-file mode's CHECKPOINT excepted).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import itertools
import json
import logging
import os
import queue
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from navsnap import engine
from navsnap._version import __version__
from navsnap.catalog import (
    GONE,
    Macro,
    TableInfo,
    column_signature,
    export_select,
    list_comments,
    list_macros,
    list_objects,
    list_sequences,
    list_tables,
    macros_with_defaults,
    partition_filter,
    qualified,
    quote_literal,
    storage_version,
    text_unsafe_columns,
)
from navsnap.config import Config
from navsnap.errors import DatabaseError, DiskFullError, NavsnapError, StoreError, UsageError
from navsnap.faults import fault_point
from navsnap.filecopy import copy_database_file
from navsnap.fsutil import is_disk_full
from navsnap.hashing import hash_file
from navsnap.hot import StagedCopy
from navsnap.identity import database_name
from navsnap.index import ReuseIndex
from navsnap.lock import store_writer
from navsnap.manifest import (
    Comment,
    ConfigBlock,
    DdlEntry,
    FileCopy,
    Fingerprint,
    HotCopy,
    Manifest,
    ObjectRef,
    Partition,
    PartitionKey,
    TableEntry,
    format_version_for,
)
from navsnap.manifest_check import MODES, check_database_name
from navsnap.selfref import lost_constraints
from navsnap.steps import Step, TableAggregates
from navsnap.store import Store, layout, referenced_objects
from navsnap.validation import checked_checks, compute_checks, compute_validation, json_safe
from navsnap.yearpass import (
    Baseline,
    TablePass,
    partition_fingerprint,
    table_pass,
    values_by_table,
    year_scannable,
)

__all__ = ["ProgressFn", "SnapshotOptions", "new_run_id", "refuse_catalog_name", "take_snapshot"]

log = logging.getLogger(__name__)

#: Progress callback: (phase, done, total). The library never prints; the CLI renders this.
ProgressFn = Callable[[str, int, int], None]

_TEMP_GRACE_SECONDS = 0.0

#: Partitions of at most this many rows (two of DuckDB's row groups) are exported two at a
#: time when nothing else needs the CPU (:meth:`SnapshotJob._exports`): a COPY of so few
#: rows keeps about one core busy. Measured by scripts/bench.py (the lean snapshot row).
_PARALLEL_ROWS = 2 * 122_880

#: At most this many partitions of the snapshot year are exported early, on the second
#: cursor while the first fingerprints (:meth:`SnapshotJob._early_exports`): each is staged
#: on the local disk until the export phase publishes it. Measured by scripts/bench.py (the
#: deep checkpoint row).
_EARLY_AHEAD = 2

_PartKey = tuple[str, PartitionKey]


class _Early:
    """The partitions the second cursor exports early (:meth:`SnapshotJob._early_exports`): it
    claims each before its COPY, until the first cursor's fingerprints end (:meth:`close`),
    after which the claimed set no longer grows."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._interrupted = False
        self.claimed: set[_PartKey] = set()
        #: The staged file of each claimed partition whose early export succeeded.
        self.staged: dict[_PartKey, Path] = {}
        #: The early exports' own error: one that came before the snapshot interrupted them.
        self.failure: BaseException | None = None

    def interrupting(self) -> None:
        """The snapshot is about to interrupt the early exports: an error after this one is
        the interrupt's, not theirs."""
        with self._lock:
            self._closed = self._interrupted = True

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if not self._interrupted:
                self.failure = exc

    def claim(self, key: _PartKey) -> bool:
        with self._lock:
            if self._closed or len(self.claimed) >= _EARLY_AHEAD:
                return False
            self.claimed.add(key)
            return True

    def close(self) -> frozenset[_PartKey]:
        """No more claims; the partitions claimed (exported, being exported, or failed)."""
        with self._lock:
            self._closed = True
            return frozenset(self.claimed)

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed


def _ended(exports: Iterator[Path]) -> None:
    """Run an export generator that has yielded every file to its end: closing it before
    would raise GeneratorExit in it, which interrupts both cursors as a failure does."""
    leftover = next(exports, None)
    assert leftover is None, "more files exported than partitions to publish"


def new_run_id() -> str:
    """A new run id: UTC start time and 4 random hex digits, sortable."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def check_run_id(run_id: str) -> None:
    """UsageError unless ``run_id`` may name a run (a ``--run`` given by hand): one file name
    in the store whose snapshots ``list``, ``show`` and ``RUN@YEAR`` find."""
    if not isinstance(run_id, str) or not layout.is_run_id(run_id):
        raise UsageError(
            f"run id {run_id!r} is not allowed",
            hint="use letters, digits, '.', '_' or '-' (at most 100), starting with a letter "
            "or digit; leave out --run for a new one",
        )


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def refuse_catalog_name(dbname: str) -> None:
    """DatabaseError when ``dbname`` (a database's catalog name) is one every reader refuses
    in a manifest (:func:`~navsnap.manifest_check.check_database_name`): such a database is
    never snapshotted, and ``run`` says so before its first step."""
    try:
        check_database_name(dbname)
    except ValueError as exc:
        raise DatabaseError(
            f"database {dbname[:80]!r} cannot be snapshotted: catalog name {exc}",
            hint="rename the database file (its name before the first dot is the catalog "
            "name) to one without double quotes or control characters",
        ) from None


@dataclass(frozen=True)
class SnapshotOptions:
    """How to take a snapshot (from the ``[snapshot]`` config section).

    ``step`` supplies the validation aggregates (None: none).
    """

    mode: str = "parquet"
    compression: str = "zstd"
    compression_level: int = 1
    file_compression: bool = False
    year_column: str = "simulation_year"
    step: Step | None = None
    checks: Mapping[str, str] = field(default_factory=dict)
    #: The hot tier: keep a whole-file copy of the latest ``hot`` year-ends (0: off).
    hot: int = 0
    #: Hot copies that are not reflinks: "auto", "zstd" or "none" (:func:`navsnap.hot.publish`).
    hot_compression: str = "auto"

    @classmethod
    def from_config(cls, config: Config, *, step: Step, mode: str | None = None) -> SnapshotOptions:
        """The options of ``config`` for ``step``; ``mode`` overrides ``[snapshot] mode``."""
        if mode is not None and mode not in MODES:
            raise UsageError(f"snapshot mode {mode!r} is not known", hint="use 'parquet' or 'file'")
        return cls(
            mode=mode or config.snapshot.mode,
            compression=config.snapshot.compression,
            compression_level=config.snapshot.compression_level,
            file_compression=config.snapshot.file_compression,
            year_column=config.run.year_column,
            step=step,
            checks=checked_checks(config.checks),
            hot=config.snapshot.hot,
            hot_compression=config.snapshot.hot_compression,
        )


def _stored_size(store: Store, key: str) -> int | None:
    """Size of a stored object, None when absent (a reused object must still be whole)."""
    try:
        return store.info(key).size
    except FileNotFoundError:
        return None


def _copy_options(opts: SnapshotOptions) -> str:
    parts = ["FORMAT parquet", f"COMPRESSION {opts.compression}"]
    if opts.compression == "zstd":
        parts.append(f"COMPRESSION_LEVEL {opts.compression_level}")
    if engine.PARQUET_VERSION_OPTION:
        # V1 by name, not by default: objects every reader reads exactly (docs/format.md).
        parts.append("PARQUET_VERSION V1")
    return ", ".join(parts)


def _kv_metadata(table: TableInfo, part: PartitionKey) -> str:
    """Parquet key-value metadata naming what an object holds, for readers without navsnap:
    the table, its schema, and for a year partition the year column and the year (``null``
    for the rows whose year is NULL); ``navsnap_encodings`` names the columns stored in another
    form than their type (``{"column": "text"}``: the exact type is in the manifest)."""
    meta = {"navsnap_schema": table.schema, "navsnap_table": table.name}
    if not part.is_global and table.year_column is not None:
        meta["navsnap_year_column"] = table.year_column
        meta["navsnap_year"] = str(part.to_json())
    if table.encodings:
        meta["navsnap_encodings"] = json.dumps(dict(sorted(table.encodings.items())))
    body = ", ".join(f"{k}: {quote_literal(v)}" for k, v in meta.items())
    return f"KV_METADATA {{{body}}}"


def _publish(store: Store, staged: Path, ext: str) -> tuple[ObjectRef, bool]:
    """Hash and publish one staged object; its folder entry is made durable later, once per
    folder, by ``store.sync`` before the manifest (``docs/format.md``, fsyncs)."""
    digest, size = hash_file(staged)
    key = layout.object_key(digest, ext)
    fault_point("before-object-publish")
    created = store.publish_file(staged, key, durable=False)
    fault_point("after-object-publish")
    return ObjectRef(key=key, xxh3=digest, size=size), created


def _translate_duckdb(exc: duckdb.Error, what: str) -> NavsnapError:
    text = str(exc)
    if is_disk_full(exc):
        return DiskFullError(f"no space left while {what}", hint="free disk space and retry")
    return StoreError(f"{what} failed: {text.splitlines()[0]}")


def _refuse_unrestorable(cur: duckdb.DuckDBPyConnection, table: TableInfo) -> None:
    """DatabaseError when no restore under the running DuckDB could give ``table`` back:
    refused at checkpoint, with the database as it is, not at the restore that needs it.

    * its DDL as DuckDB writes it lacks a constraint (DuckDB 1.0 leaves out a FOREIGN KEY
      referencing the table itself, and does not say which columns it references);
    * a column type whose text DuckDB reads as another type (1.0 reads ``ENUM(...)[]`` as
      the ENUM alone): the restore's CREATE TABLE would make another column.
    """
    if lost_constraints(table.sql):
        raise DatabaseError(
            f"table {table.key} cannot be snapshotted under DuckDB {engine.VERSION}: its "
            "definition as DuckDB writes it leaves out a constraint (a FOREIGN KEY that "
            "references the table itself), so a restore would lose it",
            hint="use DuckDB 1.1 or newer, where navsnap writes that key back, or drop the "
            "constraint",
        )
    if engine.ENUM_LIST_TEXT_PARSES:
        return
    for c in table.columns:
        if "ENUM(" not in c.type.upper() or "[" not in c.type:
            continue
        row = cur.execute(f"SELECT typeof(CAST(NULL AS {c.type}))").fetchone()
        if row is not None and row[0] != c.type:
            raise DatabaseError(
                f"table {table.key} column {c.name} ({c.type}) cannot be snapshotted under "
                f"DuckDB {engine.VERSION}: it reads that type back as {row[0]}, so a restore "
                "would create another column",
                hint="use DuckDB 1.1 or newer, or store the list as VARCHAR[]",
            )


def _refuse_macro_defaults(cur: duckdb.DuckDBPyConnection, macros: list[Macro]) -> None:
    """DatabaseError when a macro declares a parameter default: DuckDB does not list
    defaults, so a restore would give the macro back without it.

    Asked on a cursor of its own, as the database stands now: ``cur`` holds the snapshot's
    transaction, which a binder error would abort. In a run the next year's step may have
    begun meanwhile, so a macro is refused only while its catalog entry (oid) is still the
    year end's; one it dropped or replaced, or one DuckDB does not answer about, is logged
    as not checked (``docs/format.md``)."""
    probe = cur.cursor()
    try:
        found, unasked = macros_with_defaults(probe, macros)
        if found:  # the rare case: only then the catalog scan (tens of ms) that confirms it
            live = {m.oid for m in list_macros(probe)}
            unasked += [(m, GONE) for m in found if m.oid not in live]
            found = [m for m in found if m.oid in live]
    finally:
        probe.close()
    for m, why in unasked:
        log.warning(
            "macro %s was not checked for parameter defaults: %s", qualified(m.schema, m.name), why
        )
    if found:
        m = found[0]
        raise DatabaseError(
            f"macro {qualified(m.schema, m.name)} cannot be snapshotted: it declares a "
            "parameter default (name := value), which DuckDB does not list, so a restore "
            "would give it back without the default",
            hint="declare the macro without defaults (pass every argument), then checkpoint "
            "again, or run with --resume",
        )


def take_snapshot(
    con: duckdb.DuckDBPyConnection,
    *,
    store: Store,
    year: int,
    run_id: str,
    config: Mapping[str, Any],
    options: SnapshotOptions,
    db_path: str | os.PathLike[str] | None = None,
    reuse: ReuseIndex | None = None,
    parent: str | None = None,
    progress: ProgressFn | None = None,
    baseline: Baseline | None = None,
    parallel: bool = False,
) -> Manifest:
    """Snapshot the database behind ``con`` as the end of ``year`` and commit it.

    ``config`` is the manifest's config block (values, identity, hash, inputs).
    ``reuse`` holds partitions already stored (loaded from the store when None).
    ``baseline``: the snapshot the database matched before the step ran and the step's
    contract, so that older partitions may be taken from it (None: a deep snapshot that
    fingerprints every partition; :mod:`navsnap.yearpass`).
    ``parallel``: see :meth:`SnapshotJob.start`.
    A writer marker in the store keeps a concurrent ``prune`` from deleting objects
    meanwhile (:func:`navsnap.lock.store_writer`).
    """
    job = SnapshotJob.start(
        con,
        store=store,
        year=year,
        run_id=run_id,
        config=config,
        options=options,
        db_path=db_path,
        reuse=reuse,
        parent=parent,
        progress=progress,
        baseline=baseline,
        parallel=parallel,
    )
    return job.finish()


class SnapshotJob:
    """A snapshot in two phases, so the export can overlap the next year's step.

    :meth:`start` runs in the caller's thread: it opens a read transaction on a new cursor
    (pinning the year-end state), lists the tables and reads the sequences' values (the one
    part of the catalog DuckDB does not keep per transaction). :meth:`finish` reads the other
    schema objects and comments, computes every partition's fingerprint, exports the
    partitions that changed, computes the validation aggregates in that same transaction,
    and commits the manifest. It may run in another
    thread while the caller's connection goes on writing the next year: DuckDB's MVCC keeps
    the cursor's view fixed.
    """

    def __init__(
        self,
        *,
        store: Store,
        year: int,
        run_id: str,
        config: Mapping[str, Any],
        options: SnapshotOptions,
        db_path: str | os.PathLike[str] | None,
        parent: str | None,
        progress: ProgressFn | None,
    ) -> None:
        self.t0 = time.perf_counter()
        self.store, self.year, self.run_id = store, year, run_id
        self.config, self.options, self.parent, self.progress = (
            dict(config),
            options,
            parent,
            progress,
        )
        self.db_path = Path(db_path) if db_path is not None else None
        self.snapshot_id = f"{run_id}-{year}"
        self._stack = contextlib.ExitStack()
        self.cur: duckdb.DuckDBPyConnection | None = None
        #: A second cursor pinned to the same state (:meth:`_pin_side`), or None.
        self.side: duckdb.DuckDBPyConnection | None = None
        self.timings: dict[str, float] = {}
        #: Objects this snapshot created in the store (removed again if it fails).
        self.published: list[str] = []
        #: Every object key it published or found published (synced before the manifest).
        self.written: list[str] = []
        self.baseline: Baseline | None = None
        #: (table, partition) pairs taken from the baseline / fingerprinted by this snapshot.
        self.trusted: list[tuple[str, PartitionKey]] = []
        self.scanned: list[tuple[str, PartitionKey]] = []
        #: The hot tier's copy of the year-end file, staged by :meth:`_start`.
        self.staged_hot: StagedCopy | None = None
        #: Sequences (read by :meth:`_start`), then every schema object and comment (by
        #: :meth:`_finish`, in the same transaction).
        self.sequences: list[DdlEntry] = []
        self.ddl: tuple[DdlEntry, ...] = ()
        self.comments: tuple[Comment, ...] = ()

    @property
    def keeps_hot_copy(self) -> bool:
        """Whether this snapshot takes the hot tier's copy of the year-end file (a Parquet
        snapshot of a database file, with ``hot`` on)."""
        return self.options.hot > 0 and self.options.mode == "parquet" and self.db_path is not None

    @classmethod
    def start(
        cls,
        con: duckdb.DuckDBPyConnection,
        *,
        store: Store,
        year: int,
        run_id: str,
        config: Mapping[str, Any],
        options: SnapshotOptions,
        db_path: str | os.PathLike[str] | None = None,
        reuse: ReuseIndex | None = None,
        parent: str | None = None,
        progress: ProgressFn | None = None,
        baseline: Baseline | None = None,
        parallel: bool = False,
    ) -> SnapshotJob:
        """Pin the year-end state and list its tables; :meth:`finish` does the rest.

        ``parallel``: nothing else will use the database's CPU while :meth:`finish` runs (a
        checkpoint, a run's last year), so :meth:`finish` may read the catalog beside the
        fingerprints and export small partitions two at a time, on a second cursor whose
        transaction is pinned here, beside the first (:meth:`_pin_side`). The caller
        promises that no other thread of the process commits to the database while this
        runs: the two pins would otherwise see different states. Two queries at once may
        keep one more thread busy than DuckDB's ``threads`` setting (each query's own
        thread works beside DuckDB's workers); ``threads = 1`` turns it off.
        """
        job = cls(
            store=store,
            year=year,
            run_id=run_id,
            config=config,
            options=options,
            db_path=db_path,
            parent=parent,
            progress=progress,
        )
        # Fingerprints are comparable only under the DuckDB version that computed them; a
        # whole-file copy (file mode, or the hot tier's copy of the year-end) holds the live
        # rows, so the manifest it is restored against must describe those rows: deep.
        if (
            baseline is not None
            and options.mode == "parquet"
            and not job.keeps_hot_copy
            and baseline.manifest.duckdb_version == duckdb.__version__
        ):
            job.baseline = baseline
        try:
            job._start(con, reuse, parallel=parallel)
        except BaseException:
            job._close()
            raise
        return job

    def _start(
        self, con: duckdb.DuckDBPyConnection, reuse: ReuseIndex | None, *, parallel: bool
    ) -> None:
        store, options = self.store, self.options
        store.ensure_writable()
        self._stack.enter_context(
            store_writer(store, purpose=f"navsnap checkpoint {self.run_id}-{self.year}")
        )
        store.clean_temp(older_than=_TEMP_GRACE_SECONDS)
        self.reuse = reuse if reuse is not None else ReuseIndex.from_store(store)
        if store.has_manifest(self.snapshot_id):
            raise StoreError(
                f"snapshot {self.snapshot_id} already exists in {store.url!r}",
                hint="use another --run id",
            )
        if options.mode == "file" and self.db_path is None:
            raise DatabaseError("whole-file mode needs a database file, not an in-memory one")
        hot = self.keeps_hot_copy
        if options.mode == "file" or hot:
            try:
                con.execute("CHECKPOINT")
            except duckdb.Error as exc:
                raise _translate_duckdb(exc, "CHECKPOINT before the file copy") from None
            self.timings["checkpoint_s"] = time.perf_counter() - self.t0
        self.cur = cur = con.cursor()
        self.staging = store.temp_dir()
        self._stack.callback(shutil.rmtree, self.staging, True)
        cur.execute("BEGIN TRANSACTION")
        self.tables = list_tables(cur, year_column=options.year_column)
        if parallel:
            self._pin_side(con)
        if self.baseline is not None:
            # A name in the contract that is no table (a typo, a table not made yet) cannot
            # say which global tables the step rewrites: nothing is trusted (a deep snapshot).
            names = {t.key for t in self.tables} | {f"{t.schema}.{t.name}" for t in self.tables}
            unknown = sorted(self.baseline.contract.rewrites - names)
            if unknown:
                log.warning(
                    "step_rewrites names no table of the database (%s): %s is a deep snapshot",
                    ", ".join(unknown),
                    self.snapshot_id,
                )
                self.baseline = None
        # In the caller's thread, before the next year's step can start: a table navsnap
        # cannot store exactly stops the run here, with the database as the step left it.
        for table in self.tables:
            _refuse_unrestorable(cur, table)
            unsafe = text_unsafe_columns(cur, table)
            if unsafe:
                c = unsafe[0]
                raise DatabaseError(
                    f"table {table.key} column {c.name} ({c.type}) cannot be stored exactly: "
                    "Parquet cannot hold its HUGEINT/INTERVAL/TIMETZ parts and its values do not "
                    "survive DuckDB's text form",
                    hint="make those parts top-level columns, or use DuckDB "
                    f"{engine.NESTED_TEXT_ESCAPED_FROM} or newer",
                )
        # Sequences now: their values are not transactional. The rest of the catalog is read
        # by _finish in this same transaction, which sees it as of now whatever the next
        # year's step creates or drops meanwhile (off the caller's thread: at 100k employees
        # it was a fifth of a snapshot's time there, most of it duckdb_functions()).
        self.sequences = list_sequences(cur)
        row = cur.execute(
            "SELECT current_database(), (SELECT path FROM duckdb_databases() "
            "WHERE database_name = current_database())"
        ).fetchone()
        self.dbname = str(row[0]) if row else ""
        refuse_catalog_name(self.dbname)
        # The identity snapshots are matched on: the file's stem, not the catalog name
        # (DuckDB names sim.v2.duckdb 'sim'); an in-memory database has only its catalog.
        opened = self.db_path if self.db_path is not None else (row[1] if row else None)
        self.database_id = database_name(opened) if opened else self.dbname
        self.storage_version = storage_version(cur)
        if hot:
            self._stage_hot()

    def _stage_hot(self) -> None:
        """Copy the checkpointed year-end file now, in the caller's thread: the next year's
        step may start writing it as soon as :meth:`start` returns."""
        from navsnap.dbfile import wal_path
        from navsnap.hot import stage

        assert self.db_path is not None
        wal = wal_path(self.db_path)
        if wal.exists() and wal.stat().st_size > 0:
            # Another connection kept CHECKPOINT from folding the WAL in: the file alone is
            # not the year-end. The Parquet snapshot is complete without a hot copy.
            log.warning("no hot copy of %s: its .wal was not checkpointed", self.snapshot_id)
            return
        t0 = time.perf_counter()
        try:
            self.staged_hot = stage(
                self.db_path, self.staging, storage_version=self.storage_version
            )
        except OSError as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    "no space left while copying the database for the hot tier",
                    hint="free disk space and retry",
                ) from None
            raise
        self.timings["hot_stage_s"] = time.perf_counter() - t0

    def _pin_side(self, con: duckdb.DuckDBPyConnection) -> None:
        """Open the second cursor and pin its transaction to the state the first one sees.

        DuckDB gives a transaction its view of a database when a statement first reads that
        database (``BEGIN`` alone does not), so both are pinned here, one after the other in
        the caller's thread, with nothing written on ``con`` between them: no commit can fall
        between the two pins unless another thread of this process writes the database
        meanwhile, which navsnap never does (tests/test_snapshot.py compares both cursors'
        manifests with a single cursor's). Skipped when DuckDB has one thread.
        """
        row = con.execute("SELECT current_setting('threads')").fetchone()
        if row is None or int(row[0]) < 2:
            return
        side = con.cursor()
        side.execute("BEGIN TRANSACTION")
        side.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
        ).fetchall()
        self.side = side

    def _close(self) -> None:
        if "_pool" in self.__dict__:  # no query may still run on a cursor closed below
            self._pool.shutdown(wait=True, cancel_futures=True)
        for cur in (self.cur, self.side):
            if cur is not None:
                with contextlib.suppress(duckdb.Error):
                    cur.execute("ROLLBACK")
                cur.close()
        self.cur = self.side = None
        self._stack.close()

    def finish(self) -> Manifest:
        """Export, validate and commit; always releases the cursor and staging files.

        When it fails before the manifest is written, the objects it published are removed
        again (see :meth:`_discard_published`).
        """
        try:
            return self._finish()
        except Exception:
            self._close()
            self._discard_published()
            raise
        finally:
            self._close()

    def _discard_published(self) -> None:
        """Remove the objects this failed snapshot created; no manifest references them.

        On a full disk this gives the space back at once instead of at the next prune. It
        follows prune's rules (``docs/format.md``, Deletion): under the store's prune lock,
        only while no other checkpoint is writing (one could be about to reference the same
        object), and only objects no manifest references. Best effort: when any of that
        cannot be had, the objects stay for ``navsnap prune``, and the original error stands.
        """
        if not self.published:
            return
        from navsnap.lock import prune_lock, store_writers

        try:
            with prune_lock(self.store, wait=0.0):
                if any(w.stale is None for w in store_writers(self.store)):
                    return
                manifests, broken = self.store.read_manifests()
                if broken:
                    return
                referenced = referenced_objects(manifests)
                for key in self.published:
                    if key not in referenced:
                        with contextlib.suppress(FileNotFoundError):
                            self.store.delete(key)
        except (NavsnapError, OSError):
            return
        finally:
            self.published.clear()

    def _fused_aggregates(self) -> dict[str, TableAggregates] | None:
        """The step's per-table aggregates, to compute in each table's year scan; None when
        the step has none or a table they name is missing or unlike what they expect (the
        step's own :meth:`~navsnap.steps.Step.validation` then runs on its own)."""
        step = self.options.step
        wanted = step.year_aggregates() if step is not None else ()
        if not wanted:
            return None
        tables = {t.key: t for t in self.tables}
        out: dict[str, TableAggregates] = {}
        for agg in wanted:
            table = tables.get(agg.table)
            if table is None or table.year_column != agg.year_column:
                return None
            if not year_scannable(table):
                return None
            out[agg.table] = agg
        return out

    def _read_catalog(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Every schema object and comment, as of the pinned state (sequences: :meth:`_start`)."""
        t0 = time.perf_counter()
        macros = list_macros(cur)  # one read of duckdb_functions() for both
        if any(m.parameters for m in macros):
            _refuse_macro_defaults(cur, macros)
        self.ddl = tuple(list_objects(cur, macros=macros, sequences=self.sequences))
        self.comments = tuple(list_comments(cur, macros=macros))
        self.timings["catalog_s"] = time.perf_counter() - t0

    def _early_exports(
        self, side: duckdb.DuckDBPyConnection, early: _Early, *, after: Future[None]
    ) -> None:
        """The snapshot year's small partitions exported early on the second cursor, once
        it has read the catalog (``after``) and until the first cursor's fingerprints end.

        A partition of the snapshot year is new in all but a repeated snapshot of the same
        state, so its export need not wait for its fingerprint: it is staged now, from the
        same pinned state the fingerprints read, and published only if the fingerprint
        finds no stored object to reuse (otherwise the staged file is deleted). Only
        partitions of at most ``_PARALLEL_ROWS`` rows: their COPY and a fingerprint each
        keep about one core busy, so together they fill both; a larger COPY would only
        compete with the fingerprints for the same cores. At most ``_EARLY_AHEAD`` of them,
        so that little is staged on the local disk before the export phase publishes it.
        An early export that fails fails the snapshot, with its own error, as the export
        phase would (a failed statement also ends the second cursor's transaction).
        """
        wait([after])
        if after.exception() is not None:
            return  # the catalog's error is the snapshot's
        part = PartitionKey.of_year(str(self.year))
        try:
            for table in self.tables:
                if early.closed:
                    return
                if not year_scannable(table):
                    continue
                try:
                    row = side.execute(
                        f"SELECT count(*) FROM {table.ref}{partition_filter(table, part)}"
                    ).fetchone()
                except duckdb.Error as exc:
                    raise _translate_duckdb(exc, f"counting {table.key} year {part}") from None
                rows = int(row[0]) if row is not None else 0
                if rows == 0 or rows > _PARALLEL_ROWS:
                    continue
                key = (table.key, part)
                if not early.claim(key):
                    return
                early.staged[key] = self._copy(side, "early", table, part)
        except BaseException as exc:
            early.failed(exc)
            raise

    def _stop_side(self, early: _Early) -> None:
        """Interrupt what the second cursor still runs (the catalog read, an early export),
        marking first that an early export's error from now on is the interrupt's."""
        early.interrupting()
        if self.side is not None:
            with contextlib.suppress(duckdb.Error):
                self.side.interrupt()

    def _copy(
        self, cur: duckdb.DuckDBPyConnection, i: int | str, table: TableInfo, part: PartitionKey
    ) -> Path:
        """Export one partition to a staged Parquet file; its path."""
        staged = self.staging / f"{i}-{secrets.token_hex(4)}.parquet"
        target = quote_literal(staged.as_posix())  # a quote in the path
        copy_options = f"{_copy_options(self.options)}, {_kv_metadata(table, part)}"
        sql = f"COPY ({export_select(table, part)}) TO {target} ({copy_options})"
        try:
            cur.execute(sql)
        except duckdb.Error as exc:
            raise _translate_duckdb(exc, f"exporting {table.key} year {part}") from None
        return staged

    def _exports(
        self,
        todo: list[tuple[int, TableInfo, PartitionKey, Fingerprint, int]],
        *,
        side_busy: Future[None] | None = None,
    ) -> Generator[Path, None, None]:
        """The staged file of each partition of ``todo``, in order.

        One at a time on the first cursor, unless there is a second one: DuckDB's COPY of at
        most ``_PARALLEL_ROWS`` rows keeps about one core busy, so two such run side by side,
        one per cursor, while a larger COPY takes both cursors and runs alone, on every core.
        ``side_busy``: the second cursor joins when this work of its own is done.
        """
        cur = self.cur
        assert cur is not None
        if self.side is None or len(todo) < 2:
            for i, table, part, _fp, _rows in todo:
                yield self._copy(cur, i, table, part)
            return
        side = self.side
        cursors: queue.SimpleQueue[duckdb.DuckDBPyConnection] = queue.SimpleQueue()
        cursors.put(cur)
        joined = threading.Event()  # the second cursor is the export phase's to interrupt

        def join(_done: object = None) -> None:
            joined.set()
            cursors.put(side)

        if side_busy is None:
            join()
        else:
            side_busy.add_done_callback(join)
        both = threading.Lock()  # one large COPY gathers both cursors at a time: no deadlock

        def copy(i: int, table: TableInfo, part: PartitionKey, rows: int) -> Path:
            if rows <= _PARALLEL_ROWS:
                held = [cursors.get()]
            else:
                with both:
                    held = [cursors.get(), cursors.get()]
            try:
                return self._copy(held[0], i, table, part)
            finally:
                for c in held:
                    cursors.put(c)

        # At most one COPY per cursor runs ahead of the partition being published: a slow
        # store (an upload) must not leave every partition staged on the local disk at once.
        pending = iter(todo)
        window: collections.deque[Future[Path]] = collections.deque()

        def submit() -> None:
            for i, t, part, _fp, rows in itertools.islice(pending, 1):
                window.append(self._pool.submit(copy, i, t, part, rows))

        for _ in range(2):
            submit()
        try:
            while window:
                staged = window.popleft().result()
                submit()
                yield staged
        except BaseException:
            # Ctrl-C reaches only the main thread: stop the COPYs running on the pool's (not
            # an early export the second cursor may still run: _finish decides on that).
            for c in (cur, side) if joined.is_set() else (cur,):
                with contextlib.suppress(duckdb.Error):
                    c.interrupt()
            raise
        finally:
            for f in window:
                f.cancel()
            wait(window)  # no COPY may still run when the cursors close

    @functools.cached_property
    def _pool(self) -> ThreadPoolExecutor:
        """Threads for the second cursor's work (shut down by :meth:`_close`)."""
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix="navsnap-snapshot")

    def _finish(self) -> Manifest:
        store, options, cur, progress = self.store, self.options, self.cur, self.progress
        assert cur is not None
        file_copy: FileCopy | None = None
        if options.mode == "file":
            assert self.db_path is not None
            t2 = time.perf_counter()
            file_copy = copy_database_file(
                self.db_path, store=store, staging=self.staging, compress=options.file_compression
            )
            self.timings["copy_s"] = time.perf_counter() - t2
        catalog: Future[None] | None = None
        early = _Early()
        #: The second cursor's early exports (None: none), which it joins the export phase
        #: after.
        ahead: Future[None] | None = None
        if self.side is not None:
            # The catalog on the second cursor while the first fingerprints, then the year's
            # own partitions exported early (see _early_exports).
            catalog = self._pool.submit(self._read_catalog, self.side)
            if file_copy is None and _EARLY_AHEAD > 0:
                ahead = self._pool.submit(self._early_exports, self.side, early, after=catalog)
        else:
            self._read_catalog(cur)
        t1 = time.perf_counter()
        aggregates = self._fused_aggregates()
        plan: list[tuple[TableInfo, PartitionKey, Fingerprint, int]] = []
        passes: dict[str, TablePass] = {}
        try:
            for n, table in enumerate(self.tables):
                if progress is not None:
                    progress("fingerprint", n, len(self.tables))
                done = table_pass(
                    cur,
                    table,
                    year=self.year,
                    baseline=self.baseline,
                    aggregates=aggregates.get(table.key) if aggregates is not None else None,
                )
                passes[table.key] = done
                self.trusted += [(table.key, k) for k in sorted(done.trusted)]
                self.scanned += [(table.key, k) for k in sorted(done.scanned)]
                for part, found in sorted(done.fingerprints.items()):
                    plan.append((table, part, found, found.rows))
        except BaseException:
            self._stop_side(early)  # no early COPY may keep the pool busy
            raise
        claimed = early.close()  # the export phase exports the rest, on both cursors
        if progress is not None:
            progress("fingerprint", len(self.tables), len(self.tables))
        if catalog is not None:
            catalog.result()  # a refusal or error of the catalog, before anything is published
        if early.failure is not None:
            raise early.failure  # an early export failed already: nothing is published
        self.timings["fingerprint_s"] = time.perf_counter() - t1
        t3 = time.perf_counter()
        trusted = set(self.trusted)
        #: Each plan entry's partition, filled in plan order (reused now, exported below).
        slots: list[Partition | None] = [None] * len(plan)
        #: The partitions to export, in plan order: (plan index, table, key, fingerprint, rows).
        todo: list[tuple[int, TableInfo, PartitionKey, Fingerprint, int]] = []
        settled = 0  # partitions settled, for progress: reused ones at once, exported ones below
        for i, (table, part, fp, rows) in enumerate(plan):
            if progress is not None and settled == i:  # not again while exports wait
                progress("export", settled, len(plan))
            if file_copy is not None:
                slots[i] = Partition(year=part, rows=rows, fingerprint=fp, object=file_copy.object)
                settled += 1
                continue
            sig = column_signature(table.columns, table.encodings)
            hit = self.reuse.get(ReuseIndex.key(table.key, part, sig, fp))
            if hit is not None and _stored_size(store, hit[0]) != hit[2]:
                hit = None
            if hit is None and (table.key, part) in trusted:
                # A trusted partition whose object is gone (pruned) is exported from the
                # live rows: its fingerprint must then be theirs, not the baseline's.
                fp = partition_fingerprint(cur, table, part)
                rows = fp.rows
                self.trusted.remove((table.key, part))
                self.scanned.append((table.key, part))
            if hit is not None:
                ref = ObjectRef(key=hit[0], xxh3=hit[1], size=hit[2])
                slots[i] = Partition(year=part, rows=rows, fingerprint=fp, object=ref, reused=True)
                settled += 1
                continue
            todo.append((i, table, part, fp, rows))
        # The partitions claimed early are the second cursor's, exported or being exported;
        # the export phase takes the others now, on the first cursor at once, the second
        # joining when its early exports are done, and publishes the early ones last.
        # Small partitions first: a large COPY takes both cursors, and one begun while the
        # second is still busy would hold the first idle until it joins (a run's last
        # snapshot measured 0.24 s -> 0.29 s at 100k employees before this order).
        rest = [entry for entry in todo if (entry[1].key, entry[2]) not in claimed]
        rest.sort(key=lambda entry: entry[4] > _PARALLEL_ROWS)
        ordered = rest + [entry for entry in todo if (entry[1].key, entry[2]) in claimed]
        try:
            with contextlib.closing(self._exports(rest, side_busy=ahead)) as later:
                for i, table, part, fp, rows in ordered:
                    if (table.key, part) in claimed:
                        assert ahead is not None
                        ahead.result()  # an early export's own error, if one failed
                        staged = early.staged.pop((table.key, part))
                    else:
                        staged = next(later)
                    if progress is not None:
                        progress("export", settled, len(plan))
                    fault_point("after-parquet-write")
                    ref, created = _publish(store, staged, "parquet")
                    self.written.append(ref.key)
                    if created:
                        self.published.append(ref.key)
                    slots[i] = Partition(year=part, rows=rows, fingerprint=fp, object=ref)
                    settled += 1
                _ended(later)
            if ahead is not None:
                ahead.result()
        except BaseException as exc:
            if ahead is not None and not ahead.done():
                self._stop_side(early)  # Ctrl-C or a failure while an early export runs
            cause = early.failure
            if cause is not None and cause is not exc and isinstance(exc, Exception):
                # The early export's own error is the cause: it ended the second cursor's
                # transaction, and what that cursor did next failed for that reason only.
                log.debug("export phase failed after an early export failed: %s", exc)
                raise cause from None
            raise
        for staged in early.staged.values():  # exported early, then reused
            staged.unlink(missing_ok=True)
        parts_by_table: dict[str, list[Partition]] = {t.key: [] for t in self.tables}
        for (table, _part, _fp, _rows), slot in zip(plan, slots, strict=True):
            assert slot is not None
            parts_by_table[table.key].append(slot)
        if progress is not None:
            progress("export", len(plan), len(plan))
        self.timings["export_s"] = time.perf_counter() - t3
        entries = tuple(
            TableEntry(
                name=table.key,
                schema=table.schema,
                table=table.name,
                ddl=table.sql,
                columns=tuple((c.name, c.type, c.not_null) for c in table.columns),
                year_column=table.year_column,
                depends_on=table.depends_on,
                partitions=tuple(parts_by_table[table.key]),
                encodings=tuple(sorted(table.encodings.items())),
            )
            for table in self.tables
        )
        parts = [p for ps in parts_by_table.values() for p in ps]
        reused = sum(1 for p in parts if p.reused)
        log.info(
            "snapshot %s (year %d): %d partition(s) reused, %d new",
            self.snapshot_id,
            self.year,
            reused,
            len(parts) - reused,
        )
        hot: HotCopy | None = None
        if self.staged_hot is not None:
            from navsnap.hot import publish

            t5 = time.perf_counter()
            hot, created = publish(
                self.staged_hot,
                store=store,
                keep=options.hot,
                compression=options.hot_compression,
            )
            if created:
                self.published.append(hot.object.key)
            self.timings["hot_s"] = time.perf_counter() - t5
        t4 = time.perf_counter()
        if options.step is None:
            validation: dict[str, Any] = {}
        elif aggregates is not None:
            values = values_by_table(passes)
            validation = json_safe(
                options.step.assemble_validation(cur, year=self.year, values=values)
            )
        else:
            validation = compute_validation(cur, year=self.year, step=options.step)
        checks = compute_checks(cur, options.checks, year=self.year)
        self.timings["validation_s"] = time.perf_counter() - t4
        self.timings["total_s"] = time.perf_counter() - self.t0
        manifest = Manifest(
            snapshot_id=self.snapshot_id,
            run_id=self.run_id,
            year=self.year,
            created_at=_now_iso(),
            mode=options.mode,
            navsnap_version=__version__,
            duckdb_version=duckdb.__version__,
            database_name=self.dbname,
            database_id=self.database_id,
            storage_version=self.storage_version,
            year_column=options.year_column,
            config=ConfigBlock.from_dict(self.config),
            tables=entries,
            ddl=self.ddl,
            format_version=format_version_for(self.ddl),
            comments=self.comments,
            file=file_copy,
            validation=validation,
            checks=checks,
            timings={k: round(v, 6) for k, v in self.timings.items()},
            parent=self.parent,
            hot=hot,
        )
        # The objects' folder entries, once per folder, before the manifest that names them.
        store.sync(self.written)
        fault_point("before-manifest")
        try:
            store.write_manifest(manifest)
        except FileExistsError:
            # Another writer published this id since _start looked (a conditional create
            # refused it): its manifest stays, and ours is not written.
            raise StoreError(
                f"snapshot {self.snapshot_id} already exists in {store.url!r} (written by "
                "another process meanwhile)",
                hint="use another --run id",
            ) from None
        fault_point("after-manifest")
        self.reuse.add_manifest(manifest)
        return manifest
