"""Whole-file mode: copy a checkpointed ``.duckdb`` file into the store, and back.

A copy-on-write reflink (``FICLONE``) is used when the store is local and on the same
reflink-capable filesystem (XFS, btrfs); otherwise a streamed copy, optionally zstd-compressed
(pyarrow's codec, so no extra dependency). Reflinks are never compressed: that would lose the
block sharing that makes them nearly free.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import Any

import xxhash

from navsnap.errors import IntegrityError
from navsnap.faults import fault_point
from navsnap.fsutil import fsync_file, start_writeback
from navsnap.hashing import file_chunks, hash_file
from navsnap.manifest import FileCopy, ObjectRef
from navsnap.store import Store, layout

__all__ = [
    "copy_database_file",
    "reflink",
    "restore_file_copy",
    "unpack_hashed",
    "unpack_verified",
]

_FICLONE = 0x40049409
_BUF = 8 << 20


def reflink(src: Path, dest: Path) -> bool:
    """Clone ``src`` to ``dest`` with FICLONE; False (and no ``dest``) where unsupported."""
    with src.open("rb") as fin, dest.open("wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
        except OSError:
            ok = False
        else:
            ok = True
            os.fsync(fout.fileno())
    if not ok:
        dest.unlink(missing_ok=True)
    return ok


def compress_file(src: Path, dest: Path) -> None:
    """``src`` zstd-compressed into ``dest``, fsynced (whole-file snapshots, hot copies)."""
    import pyarrow as pa  # only here: importing it costs ~0.3 s of every command's start

    with src.open("rb") as fin, pa.CompressedOutputStream(str(dest), "zstd") as out:
        while chunk := fin.read(_BUF):
            out.write(chunk)
    fsync_file(dest)


def _stream_copy(src: Path, dest: Path, *, compress: bool) -> None:
    if compress:
        compress_file(src, dest)
        return
    with src.open("rb") as fin, dest.open("wb") as raw:
        half = False
        while chunk := fin.read(_BUF):
            raw.write(chunk)
            if not half:
                fault_point("file-copy-mid")
                half = True
        raw.flush()
        os.fsync(raw.fileno())


def copy_database_file(db: Path, *, store: Store, staging: Path, compress: bool) -> FileCopy:
    """Copy checkpointed database file ``db`` into the store as one object."""
    raw_xxh3, raw_size = hash_file(db)
    staged = staging / "database.duckdb"
    method = "copy"
    # A reflink is only worth it when the staged file is published by a rename.
    if store.capabilities.local_paths and reflink(db, staged):
        method = "reflink"
        compressed = False
    else:
        compressed = compress
        _stream_copy(db, staged, compress=compressed)
    # A reflink shares the source's blocks: its bytes are the ones just hashed.
    digest, size = (raw_xxh3, raw_size) if method == "reflink" else hash_file(staged)
    ext = "duckdb.zst" if compressed else "duckdb"
    key = layout.object_key(digest, ext)
    store.publish_file(staged, key)
    return FileCopy(
        object=ObjectRef(key=key, xxh3=digest, size=size),
        method=method,
        compressed=compressed,
        raw_size=raw_size,
        raw_xxh3=raw_xxh3,
    )


def restore_file_copy(copy: FileCopy, *, store: Store, dest: Path) -> str:
    """Write the database file of ``copy`` to ``dest`` (reflink or copy); returns the method."""
    return unpack_object(copy.object.key, compressed=copy.compressed, store=store, dest=dest)


def _damaged(key: str, exc: BaseException) -> IntegrityError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return IntegrityError(
        f"object {key} is not a zstd stream that decompresses: {detail}",
        path=key,
        hint="the object is damaged, or its manifest says compressed for an uncompressed "
        "object; 'navsnap verify' lists the snapshots that need it",
    )


def _zstd_input(src: Path, key: str) -> Any:
    """pyarrow's zstd stream over ``src``; IntegrityError naming ``key`` if it cannot be read
    as one."""
    import pyarrow as pa  # only here: importing it costs ~0.3 s of every command's start

    try:
        return pa.input_stream(str(src), compression="zstd")
    except (OSError, pa.ArrowException) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the file itself (a read error), not its content
        raise _damaged(key, exc) from None


def _unzstd(fin: Any, key: str) -> bytes:
    """The next chunk of decompressed bytes; IntegrityError naming ``key`` when the stored
    bytes are not zstd (a damaged object is refused, not an internal error). Errors with an
    errno (reading the file) are the OS's and go through unchanged."""
    import pyarrow as pa

    try:
        return bytes(fin.read(_BUF))
    except (OSError, pa.ArrowException) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise _damaged(key, exc) from None


def unpack_object(key: str, *, compressed: bool, store: Store, dest: Path) -> str:
    """Write the database file stored as object ``key`` (zstd if ``compressed``) to ``dest``,
    fsynced: a reflink where the store is local and the filesystem clones, else a copy (in
    the kernel where it can, ``copy_file_range``); returns ``reflink`` or ``copy``."""
    with store.local_copy(key) as src:
        if not compressed:
            if store.capabilities.local_paths and reflink(src, dest):
                return "reflink"
            shutil.copyfile(src, dest)
            fsync_file(dest)
            return "copy"
        with _zstd_input(src, key) as fin, dest.open("wb") as fout:
            while chunk := _unzstd(fin, key):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        return "copy"


def unpack_hashed(key: str, *, compressed: bool, store: Store, dest: Path) -> tuple[str, str, int]:
    """Write the database file stored as object ``key`` (zstd if ``compressed``) to ``dest``
    and hash the bytes written as they are written (one read of them, where
    :func:`unpack_object` then :func:`~navsnap.hashing.hash_file` would read them twice);
    returns ``(method, xxh3-128, size)``. A reflink (fsynced by :func:`reflink`) is hashed
    after the clone: it shares the object's blocks. A copy is **not fsynced**: the caller
    makes ``dest`` durable before it relies on it (a hot restore overlaps that fsync with its
    checks of the copy, :func:`navsnap.fsutil.fsync_behind`)."""
    with store.local_copy(key) as src:
        if not compressed:
            if store.capabilities.local_paths and reflink(src, dest):
                return ("reflink", *hash_file(dest))
            return ("copy", *_copy_hashed(src, dest))
        h = xxhash.xxh3_128()
        size = 0
        with _zstd_input(src, key) as fin, dest.open("wb") as fout:
            while chunk := _unzstd(fin, key):
                h.update(chunk)
                fout.write(chunk)
                size += len(chunk)
        return "copy", h.hexdigest(), size


#: From this size on, :func:`_copy_hashed` hashes in a second thread. Measured interleaved on
#: two loaded cores: copy plus fsync of a 483 MB file 0.90x the time of hashing inline; of a
#: 58 MB one no faster (a handoff per chunk then costs as much as it saves).
_HASH_BESIDE = 128 << 20


def _copy_hashed(src: Path, dest: Path) -> tuple[str, int]:
    """Copy ``src`` to ``dest`` through an mmap of ``src`` (``read()`` where it cannot be
    mapped: :func:`~navsnap.hashing.file_chunks`), hashing each chunk and writing that same
    buffer, so the digest is of exactly the bytes written. From :data:`_HASH_BESIDE` bytes on,
    the chunk is hashed in a second thread while it is written (xxhash and ``os.write`` both
    release the GIL), and the next chunk is taken only when both are done. Each written chunk
    is sent to disk at once (:func:`~navsnap.fsutil.start_writeback`): the disk works while
    the copy goes on, and the caller's fsync waits for the rest."""
    h = xxhash.xxh3_128()
    size = 0
    with src.open("rb") as fin, dest.open("wb") as fout:
        fd = fout.fileno()
        if os.fstat(fin.fileno()).st_size < _HASH_BESIDE:
            for chunk in file_chunks(fin, _BUF):
                h.update(chunk)
                _write_all(fd, chunk, size)
                size += len(chunk)
            return h.hexdigest(), size
        from concurrent.futures import ThreadPoolExecutor  # only a large copy needs it

        with ThreadPoolExecutor(1, thread_name_prefix="navsnap-hash") as hasher:
            for chunk in file_chunks(fin, _BUF):
                hashed = hasher.submit(h.update, chunk)
                try:
                    _write_all(fd, chunk, size)
                finally:
                    hashed.result()  # the view is released when the next chunk is taken
                size += len(chunk)
    return h.hexdigest(), size


def _write_all(fd: int, chunk: memoryview, offset: int) -> None:
    """Write all of ``chunk`` to ``fd`` (at ``offset``) and start its writeback."""
    done = 0
    while done < len(chunk):
        done += os.write(fd, chunk[done:])
    start_writeback(fd, offset, done)


def unpack_verified(copy: FileCopy, *, store: Store, dest: Path, snapshot_id: str) -> None:
    """:func:`restore_file_copy`, then check the unpacked file against its recorded hash."""
    restore_file_copy(copy, store=store, dest=dest)
    digest, size = hash_file(dest)
    if digest != copy.raw_xxh3 or size != copy.raw_size:
        raise IntegrityError(
            f"unpacked database file of snapshot {snapshot_id} does not match its hash",
            path=copy.object.key,
            snapshot_id=snapshot_id,
        )
