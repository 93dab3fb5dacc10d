"""The hot tier: a whole-file copy of each year-end database beside its Parquet snapshot.

Taking one (:mod:`navsnap.snapshot` calls these):

1. :func:`stage` in the caller's thread, right after the year's step and a ``CHECKPOINT``,
   before the next step may write: the database file is cloned (``FICLONE``) or copied into
   the snapshot's local staging folder. The staged file is exactly the year-end state.
2. :func:`publish` (possibly in the export thread, overlapping the next step): a reflink
   staged for a local store is published as it is (no byte is copied, so it is never
   compressed); anything else is zstd-compressed first when :func:`compresses` says so
   (``[snapshot] hot_compression``: by default on remote stores only). The object is published under
   :func:`navsnap.store.layout.hot_key` *before* the manifest that records it (the manifest is
   the only commit point, so a crash leaves an unreferenced object for prune).

Using one: :func:`unpack` (:mod:`navsnap.restore.pipeline`) writes the copy to a temporary
file, hashing the bytes as it writes them; :func:`in_place` (:mod:`navsnap.analyst`: ``sql``)
names the stored object itself when it can be read where it lies, and :func:`clone`
(``attach``) reflinks it where the filesystem can. All end in :func:`check_file`, the one
home of the checks that a file is the copy's bytes (no ``.wal`` beside it, the recorded
xxh3-128 and size). :class:`HotUnusable` says why a copy cannot be used (missing, damaged,
written in a storage version this DuckDB cannot open), and the caller falls back to the
Parquet objects (or, for ``attach``, the views).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from navsnap import engine
from navsnap.attached import attach_file, detach_file
from navsnap.dbfile import wal_path
from navsnap.errors import IntegrityError
from navsnap.faults import fault_point
from navsnap.filecopy import compress_file, reflink, unpack_hashed
from navsnap.hashing import hash_file
from navsnap.manifest import HotCopy, ObjectRef
from navsnap.store import Store, layout

__all__ = [
    "HotUnusable",
    "StagedCopy",
    "attach_copy",
    "check_file",
    "clone_unchecked",
    "compresses",
    "detach_copy",
    "in_place",
    "openable",
    "publish",
    "stage",
    "unpack",
]


class HotUnusable(Exception):
    """A hot copy cannot be used; ``reason`` says why. Internal: the restore pipeline catches
    it and takes the Parquet path, so it never reaches a caller of navsnap."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class StagedCopy:
    """A year-end database file copied into a staging folder (:func:`stage`)."""

    path: Path
    reflinked: bool
    storage_version: str | None


def stage(db: Path, staging: Path, *, storage_version: str | None) -> StagedCopy:
    """Clone or copy checkpointed database ``db`` into ``staging`` (no fsync: the bytes are
    hashed and published, with an fsync, before any manifest names them)."""
    staged = staging / "hot.duckdb"
    cloned = reflink(db, staged)
    if not cloned:
        shutil.copyfile(db, staged)
    fault_point("hot-after-stage")
    return StagedCopy(staged, cloned, storage_version)


def compresses(staged: StagedCopy, *, store: Store, compression: str) -> bool:
    """Whether :func:`publish` stores ``staged`` zstd-compressed.

    A reflink published into a local store (by a rename) is never compressed: it shares the
    database's blocks and costs no bytes until the database changes. Otherwise ``zstd``
    compresses and ``none`` does not; ``auto`` compresses for a remote store only. A DuckDB
    file is compressed already (zstd makes it about a third smaller), and unpacking zstd runs
    at a fraction of the speed of a local disk copy (docs/benchmarks.md): on a local store the
    plain copy restores several times faster, on a remote one the bytes transferred count.
    """
    if staged.reflinked and store.capabilities.local_paths:
        return False
    if compression == "auto":
        return not store.capabilities.local_paths
    return compression == "zstd"


def publish(
    staged: StagedCopy, *, store: Store, keep: int, compression: str = "auto"
) -> tuple[HotCopy, bool]:
    """Publish ``staged`` as a hot-tier object; returns its record and whether it was new.
    ``compression``: ``auto``, ``zstd`` or ``none`` (:func:`compresses`)."""
    raw_xxh3, raw_size = hash_file(staged.path)
    if not compresses(staged, store=store, compression=compression):
        # On a local store published by a rename: a reflink keeps sharing the database's
        # blocks, a copy is moved into place.
        src, compressed = staged.path, False
        local_clone = staged.reflinked and store.capabilities.local_paths
        method = "reflink" if local_clone else "copy"
        digest, size = raw_xxh3, raw_size
    else:
        src = staged.path.with_name("hot.duckdb.zst")
        compress_file(staged.path, src)
        staged.path.unlink()
        method, compressed = "copy", True
        digest, size = hash_file(src)
    key = layout.hot_key(digest, compressed=compressed)
    fault_point("hot-before-publish")
    created = store.publish_file(src, key)
    fault_point("hot-after-publish")
    hot = HotCopy(
        object=ObjectRef(key=key, xxh3=digest, size=size),
        method=method,
        compression="zstd" if compressed else "none",
        raw_size=raw_size,
        raw_xxh3=raw_xxh3,
        storage_version=staged.storage_version,
        keep=keep,
    )
    return hot, created


def openable(hot: HotCopy) -> str | None:
    """Why the running DuckDB cannot open the copy (a newer storage version), or None."""
    storage = engine.parse_version(hot.storage_version)
    if storage is not None and storage[:2] > engine.RUNNING[:2]:
        return (
            f"the hot copy is in storage {engine.storage_tag(hot.storage_version)}, newer than "
            f"the running DuckDB {engine.VERSION}"
        )
    return None


def check_file(hot: HotCopy, path: Path, *, digest: tuple[str, int] | None = None) -> None:
    """HotUnusable unless the file at ``path`` is exactly the bytes of ``hot``: no ``.wal``
    lies beside it (DuckDB would replay one over the hashed bytes when it opens the file, even
    read-only) and its xxh3-128 and size are the recorded ones. ``digest``: the file's
    ``(xxh3-128, size)`` when it was computed while the file was written (:func:`unpack`),
    else the file is hashed here. The same checks for a copy unpacked by a restore and for
    one read in place (:func:`in_place`)."""
    if wal_path(path).exists():
        raise HotUnusable(f"the hot copy {hot.object.key} has a .wal beside it")
    if digest is None:
        digest = hash_file(path)
    if digest != (hot.raw_xxh3, hot.raw_size):
        raise HotUnusable(f"the hot copy {hot.object.key} is damaged (hash mismatch)")


def _local_plain(hot: HotCopy, store: Store) -> Path:
    """The object's local path, when it is stored uncompressed in a local store and the
    running DuckDB opens its storage version; HotUnusable otherwise."""
    if hot.compression != "none" or not store.capabilities.local_paths:
        raise HotUnusable("the hot copy is compressed or not on a local disk")
    reason = openable(hot)
    if reason is not None:
        raise HotUnusable(reason)
    return store.local_path(hot.object.key)


def in_place(hot: HotCopy, *, store: Store) -> Path:
    """The local path of ``hot``'s object, to be read where it lies (``sql`` attaches it
    read-only): stored uncompressed in a local store, in a storage version the running
    DuckDB opens, and passing :func:`check_file`. HotUnusable otherwise."""
    path = _local_plain(hot, store)
    try:
        check_file(hot, path)
    except FileNotFoundError:
        raise HotUnusable(f"the hot copy {hot.object.key} is missing") from None
    return path


def attach_copy(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    read_only: bool = True,
    alias: str = "navsnap_hot_check",
) -> str:
    """The one home for attaching a hot copy (or ``attach``'s clone of one): ``path`` attached
    to ``con`` as ``alias`` and made its current database (:func:`navsnap.attached.attach_file`);
    returns the quoted alias, for :func:`detach_copy`. HotUnusable, and nothing left attached,
    when it does not open. :func:`navsnap.restore.build.checked_copy` then checks it (a hot
    restore, ``attach``'s clone); ``sql`` keeps it attached read-only for its queries
    (:func:`navsnap.analyst.connect`)."""
    try:
        return attach_file(con, path, alias=alias, options=" (READ_ONLY)" if read_only else "")
    except duckdb.Error as exc:
        raise HotUnusable(f"the hot copy does not open: {str(exc).splitlines()[0]}") from None


def detach_copy(con: duckdb.DuckDBPyConnection, alias: str) -> None:
    """Back to ``con``'s in-memory database, and the copy attached as ``alias`` (quoted, as
    :func:`attach_copy` returns it) detached; errors are ignored (nothing else was
    attached)."""
    detach_file(con, alias, strict=False)


def clone_unchecked(hot: HotCopy, *, store: Store, dest: Path) -> None:
    """Reflink ``hot``'s object to ``dest`` (fsynced), a file of its own that shares the
    object's blocks until either is written. HotUnusable, and no ``dest``, when the copy is
    not :func:`in_place`-readable or the filesystem cannot clone (ext4; another filesystem
    than the store's). Never a byte copy: where cloning is not possible, the caller's cheaper
    path runs. The clone is not checked here: the caller runs :func:`check_file` on it before
    using it (``attach`` hashes the clone, then checks it on the scratch instance)."""
    src = _local_plain(hot, store)
    try:
        if not reflink(src, dest):
            raise HotUnusable("the filesystem cannot clone the hot copy here")
    except FileNotFoundError:
        dest.unlink(missing_ok=True)
        raise HotUnusable(f"the hot copy {hot.object.key} is missing") from None


def unpack(hot: HotCopy, *, store: Store, dest: Path) -> str:
    """Write the database file of ``hot`` to ``dest``, hashing the bytes as they are written,
    and check them (:func:`check_file`); returns how (``reflink`` or ``copy``). HotUnusable
    when the object is missing or its bytes are not the recorded ones (``dest`` is removed
    then). A copied ``dest`` is **not fsynced** yet: the caller makes it durable before it
    swaps it in (:func:`navsnap.fsutil.fsync_behind`, overlapping the restore's checks)."""
    reason = openable(hot)
    if reason is not None:
        raise HotUnusable(reason)
    try:
        method, digest, size = unpack_hashed(
            hot.object.key, compressed=hot.compression != "none", store=store, dest=dest
        )
    except FileNotFoundError:
        dest.unlink(missing_ok=True)
        raise HotUnusable(f"the hot copy {hot.object.key} is missing") from None
    except IntegrityError as exc:  # a cached remote object that fails its hash, or bytes
        dest.unlink(missing_ok=True)  # that are no zstd stream (navsnap.filecopy)
        raise HotUnusable(f"the hot copy {hot.object.key} is damaged: {exc.message}") from None
    except OSError:
        dest.unlink(missing_ok=True)
        raise
    try:
        check_file(hot, dest, digest=(digest, size))
    except HotUnusable:
        dest.unlink(missing_ok=True)
        raise
    return method
