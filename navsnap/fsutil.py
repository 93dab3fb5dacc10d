"""Small local-filesystem and process helpers shared by the store, restore and locks."""

from __future__ import annotations

import os

__all__ = ["fsync_dir", "fsync_file", "pid_alive"]


def fsync_file(path: str | os.PathLike[str]) -> None:
    """fsync one file's data and metadata."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
