"""Locks: one writer per database, one pruner per store.

Local locks use ``filelock`` (an OS-level ``flock``), so a holder that dies, even by SIGKILL,
releases the lock with its process. Beside the lock file a small JSON file records the holder
(pid, host, start time, command) so a refused caller can be told who holds it, and a lock
left by a dead process is reported as taken over.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from navsnap.errors import LockHeld

__all__ = ["LockInfo", "db_lock", "hold_lock", "lock_path_for_db"]


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    started: str
    purpose: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.purpose}, since {self.started})"


def lock_path_for_db(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".navsnap.lock")


def _read_info(path: Path) -> LockInfo | None:
    try:
        data = json.loads(path.read_text())
        return LockInfo(
            pid=int(data["pid"]),
            host=str(data["host"]),
            started=str(data["started"]),
            purpose=str(data.get("purpose", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def hold_lock(
    lock_file: Path,
    *,
    purpose: str,
    wait: float = 0.0,
    warnings: list[str] | None = None,
) -> Iterator[LockInfo]:
    """Hold the lock at ``lock_file``; raise :class:`LockHeld` naming the holder after ``wait``."""
    info_file = lock_file.with_name(lock_file.name + ".json")
    lock = filelock.FileLock(str(lock_file), timeout=max(wait, 0.0))
    deadline = time.monotonic() + wait
    while True:
        try:
            lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
            break
        except filelock.Timeout:
            holder = _read_info(info_file)
            who = holder.describe() if holder else "another process"
            raise LockHeld(
                f"{lock_file.name} is held by {who}",
                holder=holder.__dict__ if holder else None,
                hint="wait for it to finish or pass --wait-lock SECONDS"
                if wait <= 0
                else "it is still running; try again later",
            ) from None
    try:
        previous = _read_info(info_file)
        if previous is not None and warnings is not None:
            state = (
                "gone"
                if previous.host == socket.gethostname() and not _pid_alive(previous.pid)
                else "no longer holding it"
            )
            warnings.append(
                f"took over a stale lock left by {previous.describe()}: process {state}"
            )
        me = LockInfo(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            purpose=purpose,
        )
        tmp = info_file.with_name(info_file.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**me.__dict__, "argv": sys.argv[:8]}))
        os.replace(tmp, info_file)
        try:
            yield me
        finally:
            with contextlib.suppress(FileNotFoundError):
                info_file.unlink()
    finally:
        lock.release()


def db_lock(
    db_path: Path, *, purpose: str, wait: float = 0.0, warnings: list[str] | None = None
) -> contextlib.AbstractContextManager[LockInfo]:
    """The writer lock of database ``db_path``."""
    return hold_lock(lock_path_for_db(db_path), purpose=purpose, wait=wait, warnings=warnings)


def describe(info: LockInfo) -> dict[str, Any]:
    return dict(info.__dict__)
