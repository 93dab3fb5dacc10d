"""Query a snapshot in place: DuckDB views over the snapshot's own Parquet objects.

Nothing is restored and nothing is copied. Each table of the snapshot becomes a view of the
same name (``schema.table``) over exactly the Parquet objects its manifest lists, cast back to
the table's column types. On a local store the views read absolute file paths; on a remote
store (``s3://``) they read the objects' URLs through the store's fsspec filesystem, registered
with DuckDB (``con.register_filesystem``), so the credentials stay in the environment.

When the snapshot has a live hot-tier copy stored uncompressed in a local store (a whole-file
copy of the year-end database, :mod:`navsnap.hot`), :func:`connect` ATTACHes that file
read-only and makes it the current database instead of building views, and
:func:`write_attach_file` writes a reflink clone of it when the filesystem can clone it there:
the snapshot's tables, views and macros are then ready at once. A compressed copy would have
to be unpacked, and a byte copy where no clone is possible costs more than the views (it is
bounded by the disk); the views are used then.

The snapshot's objects are store content, so untrusted: before the views are built each object
is checked to exist with its recorded size (a stat each, or a HEAD request; hashing every object
would cost more than the views). A view DuckDB cannot create, and a query that fails while it
runs (not one whose text DuckDB refuses), have the objects checked by hash before the error is
reported: a damaged snapshot raises :class:`~navsnap.errors.IntegrityError` naming the object
or table, as a restore does, and the query's own mistakes stay a :class:`UsageError`.

A snapshot is also readable with DuckDB alone (see ``docs/analysts.md``)::

    navsnap show SNAPSHOT --json      # manifest: tables -> partitions -> object key
    SELECT * FROM read_parquet(['<store>/objects/ab/ab12....parquet', ...]);
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from navsnap import engine, scratch
from navsnap.ahead import connect_ahead
from navsnap.attached import attached
from navsnap.dbfile import checked_path, remove_with_wal, temp_beside
from navsnap.errors import DatabaseError, IntegrityError, UsageError
from navsnap.integrity import check_present, damaged_hint, verify_objects
from navsnap.manifest import Manifest
from navsnap.materialize import create_parquet_views, no_autoinstall
from navsnap.store import Store

__all__ = [
    "AttachReport",
    "QueryResult",
    "connect",
    "table_files",
    "write_attach_file",
]


@dataclass(frozen=True)
class QueryResult:
    """Column names and rows of one query."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def to_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class AttachReport:
    """What :func:`write_attach_file` wrote."""

    path: str
    snapshot_id: str
    #: The views written (none for a clone of the hot copy, which holds the tables).
    views: tuple[str, ...]
    remote: bool
    #: ``views`` (views over the Parquet objects) or ``hot`` (a clone of the hot copy).
    source: str = "views"


def _check_mode(manifest: Manifest) -> None:
    if manifest.mode != "parquet":
        raise UsageError(
            f"snapshot {manifest.snapshot_id} is a whole-file copy, not Parquet",
            hint="restore it with 'navsnap restore SNAPSHOT --to copy.duckdb' and open that",
        )


def table_files(store: Store, manifest: Manifest) -> dict[str, list[str]]:
    """Table name -> the paths/URLs of its Parquet objects, in manifest order."""
    _check_mode(manifest)
    return {t.name: [store.full_url(p.object.key) for p in t.partitions] for t in manifest.tables}


#: DuckDB's errors about a query's own text: its syntax, or a name it uses that does not exist
#: (the table views were bound when they were created, so these are never the store's).
_QUERY_TEXT_ERRORS = (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)


def _check_present(store: Store, manifest: Manifest) -> None:
    """Every object of the snapshot is in the store with its recorded size, or IntegrityError
    naming the first that is not. Sizes only: hashing them all would cost more than the views."""
    check_present(store, manifest, manifest.objects(), hint=damaged_hint(manifest.snapshot_id))


def _check_named(store: Store, manifest: Manifest, message: str) -> None:
    """After DuckDB failed reading the snapshot: hash the objects its ``message`` names, or,
    when it names none, every object on a local store (4 GB/s; a remote one would be
    downloaded whole, so there only their sizes are checked). IntegrityError naming the first
    bad one; nothing when all are intact."""
    objects = manifest.objects()
    hint = damaged_hint(manifest.snapshot_id)
    check_present(store, manifest, objects, hint=hint)
    named = [o for o in objects if store.full_url(o.key) in message]
    if named or store.capabilities.local_paths:
        verify_objects(store, manifest, named or objects, hint=hint)


def _table_views(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    manifest: Manifest,
    files: dict[str, list[str]],
    *,
    also: Sequence[tuple[str, Sequence[object]]] = (),
) -> list[str]:
    """:func:`create_parquet_views`; a table view DuckDB refuses is reported by the object it
    names when that object's hash is wrong, else by the table (the manifest and its objects
    disagree)."""
    try:
        return create_parquet_views(con, manifest, files, also=also)
    except IntegrityError as exc:
        if exc.path is not None:
            _check_named(store, manifest, store.full_url(exc.path))
        raise


def _create_views(con: duckdb.DuckDBPyConnection, store: Store, manifest: Manifest) -> list[str]:
    _check_present(store, manifest)
    files = table_files(store, manifest)
    fs = store.duckdb_filesystem()
    if fs is not None:
        con.register_filesystem(fs)
    return _table_views(con, store, manifest, files)


def _attach_hot(con: duckdb.DuckDBPyConnection, store: Store, manifest: Manifest) -> bool:
    """ATTACH the snapshot's hot copy read-only and USE it, when it can be read in place
    (:func:`navsnap.hot.in_place`: the checks a restore makes of the bytes it unpacked, so a
    damaged copy never answers queries); False (nothing attached) otherwise.

    The copy is attached by :func:`navsnap.hot.attach_copy`, the one home for it, but not
    checked by :func:`~navsnap.restore.build.checked_copy` as a hot restore's is:
    listing the copy's catalog and counting its rows more than doubled the time to the first
    query at 100k (60 ms to 133 ms, interleaved; 0.06x IMPORT, past the target of 0.05x). The
    listing is nearly all of it, and most of that is ``duckdb_functions()``, which walks every
    built-in function to find the macros (no cheaper query lists them exactly). Nothing is
    written or swapped in here: the bytes are the snapshot's own (their hash), read-only."""
    from navsnap.hot import HotUnusable, attach_copy, in_place

    if manifest.hot is None:
        return False
    try:
        path = in_place(manifest.hot, store=store)
    except (HotUnusable, OSError):
        return False
    try:
        attach_copy(con, path, alias="navsnap_hot")
    except HotUnusable:
        return False
    return True


def connect(store: Store, manifest: Manifest) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection where each table of the snapshot reads by its name: the
    hot copy attached read-only when it can be read in place, else one view per table.
    IntegrityError when an object is missing, of another size, or not what the manifest says."""
    return _connect(store, manifest)[0]


def _connect(store: Store, manifest: Manifest) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """:func:`connect`, and whether it attached the hot copy (no Parquet object is read)."""
    con = duckdb.connect()
    try:
        no_autoinstall(con)  # the hot copy's views are store content too
        if _attach_hot(con, store, manifest):
            return con, True
        _create_views(con, store, manifest)
    except BaseException:
        con.close()
        raise
    return con, False


def _empty_query(manifest: Manifest) -> UsageError:
    example = manifest.tables[0].name if manifest.tables else "my_table"
    return UsageError(
        "query is empty", hint=f'give a SELECT, e.g. "SELECT count(*) FROM {example}"'
    )


def run_query(store: Store, manifest: Manifest, query: str) -> QueryResult:
    """Run ``query`` over the snapshot's views. A query DuckDB refuses, or that fails while it
    runs over intact objects, is a :class:`UsageError`; a damaged object an
    :class:`IntegrityError` (checked by hash when the query failed while running)."""
    if not query.replace(";", "").strip():
        raise _empty_query(manifest)
    con, hot = _connect(store, manifest)
    try:
        try:
            rel = con.execute(query)
            # No statement at all (only comments): None, or under DuckDB 1.0 no result set.
            if rel is None or rel.description is None:
                raise _empty_query(manifest)
            rows = rel.fetchall()
            columns = tuple(d[0] for d in rel.description)
        except duckdb.Error as exc:
            if not hot and not isinstance(exc, _QUERY_TEXT_ERRORS):
                _check_named(store, manifest, str(exc))
            raise UsageError(
                f"query failed: {' '.join(str(exc).split())}",
                hint=f"tables: {', '.join(t.name for t in manifest.tables)}",
            ) from None
    finally:
        con.close()
    return QueryResult(columns=columns, rows=tuple(tuple(r) for r in rows))


def write_attach_file(
    store: Store, manifest: Manifest, out: str | os.PathLike[str], *, overwrite: bool = False
) -> AttachReport:
    """Write a small DuckDB file of views over the snapshot's objects (and a ``navsnap_info``
    table naming the snapshot). Written beside ``out`` and renamed into place. Where the
    snapshot's hot copy can be cloned beside ``out`` (:func:`navsnap.hot.clone_unchecked`,
    then checked: a local store on XFS or btrfs, the same filesystem), the file is that clone
    instead, with the snapshot's own tables, views and macros, and the same ``navsnap_info``
    table."""
    _check_mode(manifest)
    # A device, FIFO or directory is refused before anything is written; a symlink is
    # resolved, so the file it names is replaced and the link stays a link.
    target = checked_path(Path(out), option="--out").absolute()
    if target.exists() and not overwrite:
        raise DatabaseError(
            f"{str(target)!r} already exists", hint="pass --force to replace it, or another --out"
        )
    if not target.parent.is_dir():
        raise DatabaseError(
            f"directory {str(target.parent)!r} does not exist", hint="create it first"
        )
    tmp = temp_beside(target, "attach")
    remove_with_wal(tmp)
    try:
        cloned = _clone_hot(store, manifest, tmp)
        views = [] if cloned else _write_views(store, manifest, tmp)
        os.replace(tmp, target)
    except duckdb.Error as exc:
        raise DatabaseError(
            f"could not write {str(target)!r}: {' '.join(str(exc).split())}"
        ) from None
    finally:
        remove_with_wal(tmp)
    return AttachReport(
        path=str(target),
        snapshot_id=manifest.snapshot_id,
        views=tuple(views),
        remote=not store.capabilities.local_paths,
        source="hot" if cloned else "views",
    )


def _info_sql(store: Store, manifest: Manifest) -> tuple[str, Sequence[object]]:
    """The ``navsnap_info`` table naming the snapshot, as SQL and its parameters."""
    sql = "CREATE TABLE navsnap_info AS SELECT ? AS snapshot_id, ? AS year, ? AS store"
    return sql, [manifest.snapshot_id, manifest.year, store.url]


def _names_scratch(manifest: Manifest) -> bool:
    """Whether any of the snapshot's own macros or views could name the scratch instance's
    database, ``memory``: the only catalog of that instance a statement run on a cursor whose
    current database is the views file could write to and leave behind (``temp`` is the
    cursor's own, ``system`` is read-only). A hostile manifest's ``CREATE VIEW memory.main.x``
    would otherwise outlive the call in the instance the manifest parser shares. Any mention
    of the word, in any case, quoted or not, counts: a false alarm costs one DuckDB instance
    (about 36 ms)."""
    return any(d.kind in ("macro", "view") and "memory" in d.sql.lower() for d in manifest.ddl)


def _write_views(store: Store, manifest: Manifest, tmp: Path) -> list[str]:
    """Write the views file at ``tmp``, in the oldest storage every supported DuckDB opens.

    Over a local store the new file is ATTACHed to the process's scratch instance
    (:mod:`navsnap.scratch`), written, CHECKPOINTed and DETACHed: opening it as a new
    instance's own database made and closed an instance, 40 % of the time at 100k. Over a
    remote store the views read through the store's filesystem, which registers on the
    instance: the file is then an instance of its own. So is it for a snapshot whose own
    macros or views could name the scratch instance's database (:func:`_names_scratch`)."""
    _check_present(store, manifest)
    files = table_files(store, manifest)
    also = [_info_sql(store, manifest)]
    fs = store.duckdb_filesystem()
    if fs is not None or _names_scratch(manifest):
        own = duckdb.connect(str(tmp), config=engine.OLDEST_FILE_CONFIG)
        try:
            if fs is not None:
                own.register_filesystem(fs)
            views = _table_views(own, store, manifest, files, also=also)
            own.execute("CHECKPOINT")
        finally:
            own.close()
        return views
    con = scratch.cursor()
    try:
        # Detached strictly after success: a file still attached stays open (and locked).
        with attached(
            con,
            tmp,
            alias=f"navsnap_attach_{uuid.uuid4().hex}",
            options=engine.OLDEST_ATTACH_OPTIONS,
        ) as alias:
            views = _table_views(con, store, manifest, files, also=also)
            con.execute(f"CHECKPOINT {alias}")
    finally:
        con.close()
    return views


def _clone_hot(store: Store, manifest: Manifest, dest: Path) -> bool:
    """Clone the snapshot's hot copy to ``dest`` when that is possible and the clone checks
    out as a hot restore's copy does: its hash (:func:`navsnap.hot.check_file`), then its
    objects, catalog and row counts against the manifest
    (:func:`navsnap.restore.build.checked_copy`), on the same connection that then adds
    ``navsnap_info`` and checkpoints the clone; False, and no ``dest``, otherwise.

    The clone is attached, under an alias of its own, to the process's scratch instance
    (:mod:`navsnap.scratch`), which reading the manifest has usually made already: starting
    a DuckDB instance of its own was a quarter of the time at 100k (the wait for it after the
    hash, about 25 ms of 0.10 s). Where the process has none yet, the cursor is taken in a
    thread (:func:`navsnap.ahead.connect_ahead`) while the clone is hashed. Nothing of the
    snapshot's own SQL runs there: only the checks, ``navsnap_info`` and the CHECKPOINT."""
    from navsnap.hot import HotUnusable, check_file, clone_unchecked

    if manifest.hot is None:
        return False
    try:
        clone_unchecked(manifest.hot, store=store, dest=dest)
    except (HotUnusable, OSError):
        remove_with_wal(dest)
        return False
    # Only now: where no clone is possible (ext4), the views file needs none of the restore.
    from navsnap.restore.build import checked_copy

    with connect_ahead(scratch.cursor) as ready:
        try:
            check_file(manifest.hot, dest)
            con = ready()
            with checked_copy(
                con, dest, manifest, read_only=False, alias=f"navsnap_clone_{uuid.uuid4().hex}"
            ) as alias:
                con.execute(*_info_sql(store, manifest))
                con.execute(f"CHECKPOINT {alias}")
        except (HotUnusable, OSError):
            remove_with_wal(dest)
            return False
    return True
