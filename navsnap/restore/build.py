"""Restore, step 3: build. The new database beside the target, or the rewritten partitions.

* :func:`build_full` — a new file from the manifest (:func:`navsnap.materialize.build_database`),
  checked (:mod:`navsnap.restore.check`), CHECKPOINTed and fsynced, ready to be swapped in;
* :func:`build_file` — a whole-file snapshot unpacked and checked against its hash;
* :func:`check_hot_copy` — a hot-tier copy (unpacked and hash-checked by :mod:`navsnap.hot`)
  holds the manifest's catalog and row counts;
* :func:`apply_delta` — the differing partitions of the live file rewritten in one
  transaction that is checked before it commits.

Each result's catalog is checked too: it holds only the objects the manifest lists
(:func:`navsnap.restore.check.check_catalog`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import duckdb

from navsnap import engine
from navsnap.attached import attach_file, detach_file
from navsnap.catalog import (
    catalog_names,
    list_macros,
    list_objects,
    secret_names,
    table_info,
)
from navsnap.compare import full_strength
from navsnap.dbfile import wal_path
from navsnap.errors import RestoreError
from navsnap.faults import fault_point
from navsnap.filecopy import unpack_verified
from navsnap.fsutil import fsync_file
from navsnap.manifest import Manifest, TableEntry
from navsnap.materialize import build_database, reload_partition
from navsnap.restore.check import (
    check_aggregates,
    check_catalog,
    check_comments,
    check_partitions,
    check_tables,
)
from navsnap.restore.plan import RestorePlan
from navsnap.selfref import lost_constraints
from navsnap.store import Store

__all__ = [
    "apply_delta",
    "build_file",
    "build_full",
    "check_hot_copy",
    "check_open_copy",
    "checked_copy",
    "open_for_delta",
]

ProgressFn = Callable[[str, int, int], None]


def refuse_lost_constraints(manifest: Manifest, entries: Sequence[TableEntry]) -> None:
    """RestoreError for a table whose recorded DDL has an empty item (asked by the restore
    pipeline before the Parquet path fetches anything, and by its dry run): a FOREIGN KEY
    referencing the table itself, which DuckDB before 2.0 leaves out of its own text and
    navsnap stored so before it wrote the key back. DuckDB accepts that DDL, so a rebuild
    would give the table back without its key."""
    for entry in entries:
        if lost_constraints(entry.ddl):
            raise RestoreError(
                f"snapshot {manifest.snapshot_id} cannot give table {entry.name} back exactly: "
                "its recorded definition lacks a constraint (a FOREIGN KEY referencing the "
                "table itself, left out by DuckDB before 2.0 and by navsnap before it wrote "
                "such keys back)",
                hint="restore a snapshot this navsnap took, or read the rows with navsnap sql",
            )


def build_full(
    store: Store,
    manifest: Manifest,
    plan: RestorePlan,
    tmp: Path,
    *,
    progress: ProgressFn | None = None,
) -> dict[str, float]:
    """Build, check and fsync the database of ``plan`` in ``tmp``; returns timings."""
    timings: dict[str, float] = {}
    # Attach the new file under the catalog name it will have when opened at the target
    # (DuckDB names it after the file), so view SQL that names that catalog binds.
    catalog = Path(plan.target).name.split(".", 1)[0]
    if not catalog or catalog.lower() in ("memory", "system", "temp", "main"):
        catalog = "navsnap_restore"
    entries = [e for e in manifest.tables if e.name in set(plan.tables)]
    con = duckdb.connect()
    try:
        # The user's own (persistent) secrets are visible to every connection: not the restore's.
        secrets = secret_names(con)
        # Row order is not part of a table's content (fingerprints ignore it); letting DuckDB
        # append in parallel makes loading and the final CHECKPOINT much faster.
        con.execute("SET preserve_insertion_order = false")
        storage = engine.restore_storage(manifest.storage_version, manifest.duckdb_version)
        options = engine.attach_options(storage)
        alias = attach_file(con, tmp, alias=catalog, options=options)
        t0 = time.perf_counter()
        marks: dict[str, float] = {}

        def loaded() -> None:
            marks["loaded"] = time.perf_counter()

        build_database(
            con, store, manifest, entries, catalog=catalog, progress=progress, after_load=loaded
        )
        timings["load_s"] = marks.get("loaded", time.perf_counter()) - t0
        fault_point("restore-after-load")
        t2 = time.perf_counter()
        check_tables(con, manifest, entries, store=store)
        every = len(entries) == len(manifest.tables)
        macros = list_macros(con)  # one catalog scan for both checks
        objects = list_objects(con, macros=macros)
        if every:
            if not full_strength(manifest):
                # At full strength every partition just matched the fingerprint of the rows
                # the snapshot's aggregates were computed from, so they follow (as after a
                # delta); under another engine the tables matched the snapshot's Parquet,
                # and the aggregates still say that Parquet holds the writer's rows.
                check_aggregates(con, manifest)
            check_comments(con, manifest, macros=macros)
        check_catalog(
            con,
            manifest,
            tables=None if every else plan.tables,
            allowed=secrets,
            objects=objects,
        )
        timings["check_s"] = time.perf_counter() - t2
        con.execute(f"CHECKPOINT {alias}")
        detach_file(con, alias)
    finally:
        con.close()
    if wal_path(tmp).exists():
        raise RestoreError("restored database kept a .wal after CHECKPOINT")
    fsync_file(tmp)
    return timings


def build_file(store: Store, manifest: Manifest, tmp: Path) -> None:
    """Unpack a whole-file snapshot into ``tmp`` and check it against its recorded hash."""
    assert manifest.file is not None
    unpack_verified(manifest.file, store=store, dest=tmp, snapshot_id=manifest.snapshot_id)
    # The hash proves the bytes are the manifest's, not that the file holds only what the
    # manifest lists: whoever writes a store writes both.
    con = duckdb.connect(str(tmp), read_only=True)
    try:
        check_catalog(con, manifest, allowed=secret_names(con))
    finally:
        con.close()


@contextlib.contextmanager
def _delta_settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """For the block, checkpoints of ``con``'s database run without vacuum, and a commit
    checkpoints at once (``checkpoint_threshold`` 0): the rewrite is written to the file at
    COMMIT, not first to the ``.wal`` and then again by the CHECKPOINT. A DuckDB without a
    setting keeps its default for it (the CHECKPOINT after the commit still runs)."""
    done: list[str] = []
    for name, value in (("max_vacuum_tasks", "0"), ("checkpoint_threshold", "'0b'")):
        try:
            con.execute(f"SET {name} = {value}")
        except duckdb.Error:
            continue
        done.append(name)
    try:
        yield
    finally:
        for name in done:
            with contextlib.suppress(duckdb.Error):
                con.execute(f"RESET {name}")


def check_hot_copy(
    path: Path, manifest: Manifest, *, con: duckdb.DuckDBPyConnection | None = None
) -> None:
    """The cheap checks of a hot copy whose bytes matched their hash
    (:func:`navsnap.hot.check_file`): it opens in the running DuckDB, read-only, and
    :func:`check_open_copy` holds. ``con``: an open (in-memory) connection to attach the copy
    to (:func:`navsnap.ahead.connect_ahead`) instead of a new DuckDB instance; the copy is
    detached again before this returns. HotUnusable otherwise (the Parquet path is taken)."""
    from navsnap.hot import HotUnusable

    if con is None:
        try:
            own = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise HotUnusable(f"the hot copy does not open: {str(exc).splitlines()[0]}") from None
        try:
            check_open_copy(own, manifest)
        finally:
            own.close()
        return
    with checked_copy(con, path, manifest):
        pass


@contextlib.contextmanager
def checked_copy(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    manifest: Manifest,
    *,
    read_only: bool = True,
    alias: str = "navsnap_hot_check",
) -> Iterator[str]:
    """``path`` attached to ``con`` (:func:`navsnap.hot.attach_copy`) and made its current
    database once :func:`check_open_copy` holds; yields its (quoted) alias, and detaches it on
    leaving. HotUnusable when it does not open or does not match (a hot restore's check, and
    ``attach``'s of its clone, which it then writes ``navsnap_info`` to: ``read_only``
    False). ``alias``: a name no other user of ``con``'s instance takes (the scratch
    instance is shared by the process's threads)."""
    from navsnap.hot import HotUnusable, attach_copy, detach_copy

    quoted = attach_copy(con, path, read_only=read_only, alias=alias)
    try:
        try:
            check_open_copy(con, manifest)
        except duckdb.Error as exc:
            raise HotUnusable(f"the hot copy does not match the snapshot: {exc}") from None
        yield quoted
    except BaseException:
        detach_copy(con, quoted)
        raise
    try:  # strictly: a copy still attached stays open (on the scratch instance, for good)
        detach_file(con, quoted)
    except duckdb.Error as exc:
        detach_copy(con, quoted)
        raise HotUnusable(f"the hot copy could not be detached: {exc}") from None


def check_open_copy(con: duckdb.DuckDBPyConnection, manifest: Manifest) -> None:
    """The current database of ``con`` (a hot copy, or ``attach``'s clone of one) holds only
    the objects the manifest lists, and every table has the manifest's row count (one query
    for all of them). HotUnusable otherwise."""
    from navsnap.hot import HotUnusable

    try:
        check_catalog(con, manifest, allowed=secret_names(con))
        if manifest.tables:
            counts = " UNION ALL ".join(
                f"SELECT {i} AS i, count(*) AS n FROM {table_info(entry).ref}"
                for i, entry in enumerate(manifest.tables)
            )
            found = dict(con.execute(counts).fetchall())
            for i, entry in enumerate(manifest.tables):
                if found.get(i) != entry.rows:
                    raise HotUnusable(
                        f"the hot copy's table {entry.name} has {found.get(i, 0)} rows, "
                        f"the snapshot {entry.rows}"
                    )
    except (duckdb.Error, RestoreError) as exc:
        raise HotUnusable(f"the hot copy does not match the snapshot: {exc}") from None


def open_for_delta(target: Path) -> duckdb.DuckDBPyConnection:
    """``target`` opened read-write, in the transaction a delta is planned and applied in
    (:func:`apply_delta`)."""
    con = duckdb.connect(str(target))
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute("BEGIN TRANSACTION")
    except BaseException:
        con.close()
        raise
    return con


def apply_delta(
    store: Store,
    manifest: Manifest,
    plan: RestorePlan,
    target: Path,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> None:
    """Rewrite the partitions ``plan`` loads or drops in one transaction that commits only
    when every rewritten partition checks out and the catalog holds only what the manifest
    lists (a partial restore keeps the objects that were there).

    ``con``: the connection ``plan`` was made on (:func:`open_for_delta`), its transaction
    still open (the database is opened once); it is used and closed here.
    """
    by_name = {t.name: t for t in manifest.tables}
    rewritten = [
        (by_name[a.table], a.year)
        for a in plan.actions
        if a.action != "keep" and a.year is not None
    ]
    loads = {(a.table, a.year) for a in plan.actions if a.action == "load"}
    every = len(plan.tables) == len(manifest.tables)
    if con is None:
        con = open_for_delta(target)
    try:
        # Planned under the same lock on the same file: the catalog the rewrite starts from.
        before = plan.live_catalog if plan.live_catalog is not None else catalog_names(con)
        for entry, key in rewritten:
            reload_partition(con, store, entry, key, load=(entry.name, key) in loads)
        for sql in plan.comments:
            con.execute(sql)
        fault_point("delta-mid-transaction")
        # Every kept partition already matched its fingerprint; check what was rewritten.
        # (The validation aggregates follow: every partition equals the manifest's.)
        check_partitions(con, manifest, rewritten, store=store)
        # The catalog is read again, not taken from the plan: the check is of what the
        # transaction is about to commit.
        macros = list_macros(con)  # one catalog scan for both checks
        objects = list_objects(con, macros=macros)
        if plan.comments:
            check_comments(con, manifest, macros=macros)
        if every:
            check_catalog(con, manifest, allowed=secret_names(con) & before, objects=objects)
        else:
            check_catalog(con, manifest, tables=plan.tables, allowed=before, objects=objects)
        # The rewrite is made durable here, before the restore reports success: the commit
        # checkpoints (no .wal is written), and the CHECKPOINT after it, a no-op then, makes
        # it durable under a DuckDB that wrote the .wal instead. Without vacuum: DuckDB would
        # otherwise merge the row groups the DELETEs thinned and rewrite every row group after
        # them (most of a delta restore's time); the rows are the same, only that merge is
        # skipped.
        with _delta_settings(con):
            con.execute("COMMIT")
            fault_point("delta-after-commit")
            con.execute("CHECKPOINT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
