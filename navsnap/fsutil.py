"""Small local-filesystem and process helpers shared by the store, restore and locks."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import stat
import threading
from collections.abc import Callable, Iterator

__all__ = [
    "fsync_behind",
    "fsync_dir",
    "fsync_file",
    "is_disk_full",
    "pid_alive",
    "read_regular",
    "start_writeback",
]

#: How DuckDB (whose errors carry no errno) and the OS word a full disk.
_NO_SPACE = ("No space left on device", "ENOSPC", "Disk quota exceeded")
#: DuckDB's wording after a failed write of the database or its WAL: every later statement.
_INVALIDATED = "database has been invalidated"
#: Less free space than this on the database's filesystem counts as full.
_NEARLY_FULL = 1 << 20


def read_regular(path: str | os.PathLike[str], *, limit: int) -> bytes | None:
    """The bytes of regular file ``path`` if it holds at most ``limit``, never following a
    symlink nor blocking (``O_NONBLOCK``: a FIFO or a device in its place is not read): None
    for anything else (absent, unreadable, not a regular file, larger). For small state
    files anyone who can write their directory may replace (lock owner files, stat records)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, limit + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks) if total <= limit else None
    except OSError:
        return None
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """fsync one file's data and metadata."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


#: ``sync_file_range(2)``'s flag that starts writing a range out without waiting for it.
_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    import ctypes  # here: only a file copy needs it, not every command's start

    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):  # not Linux, or a libc without it
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes of ``fd`` from ``offset`` to disk now,
    without waiting (Linux ``sync_file_range`` with ``SYNC_FILE_RANGE_WRITE``, as PostgreSQL's
    ``*_flush_after`` settings do), so a large copy's disk writes overlap the copy and the
    ``fsync`` that follows finds little left to write. Durability still comes from that
    ``fsync`` alone; where the call does not exist or fails, nothing happens."""
    fn = _sync_file_range()
    if fn is not None:
        fn(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


@contextlib.contextmanager
def fsync_behind(path: str | os.PathLike[str]) -> Iterator[None]:
    """fsync ``path`` in a thread while the block runs (reads of the file, such as DuckDB
    opening it read-only, proceed meanwhile); on leaving, wait for it. The fsync's error is
    raised when the block succeeded; the block's own error wins otherwise. Leaving the block
    normally therefore means the file is durable."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            fsync_file(path)
        except BaseException as exc:  # handed to the caller's thread below
            failed.append(exc)

    worker = threading.Thread(target=run, name="navsnap-fsync", daemon=True)
    worker.start()
    try:
        yield
    finally:
        worker.join()
    if failed:
        raise failed[0]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename or link inside it is durable."""
    fsync_file(path)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a process we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_disk_full(exc: BaseException, *, path: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``exc``, or an error it was raised from, says the disk is full.

    The one place that recognises a full disk: ENOSPC/EDQUOT from the OS, DuckDB's wording of
    it, and DuckDB's "database has been invalidated" (what every statement says after a write
    failed, on some releases without the cause) when the filesystem of ``path`` has almost no
    space left.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    invalidated = False
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(current)
        if any(marker in text for marker in _NO_SPACE):
            return True
        invalidated = invalidated or _INVALIDATED in text
        current = current.__cause__ or current.__context__
    if not invalidated or path is None:
        return False
    try:
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
    except OSError:
        return False
    return free < _NEARLY_FULL
