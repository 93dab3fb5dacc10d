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
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from navsnap.errors import (
    DatabaseError,
    LockHeld,
    NavsnapError,
    StoreError,
    check_non_negative,
)
from navsnap.fsutil import pid_alive, read_regular
from navsnap.store import Store, layout
from navsnap.store.remote import redact

__all__ = [
    "DEFAULT_LOCK_TTL",
    "HeldLock",
    "LockInfo",
    "UnlockReport",
    "WriterMarker",
    "db_lock",
    "hold_lock",
    "lock_path_for_db",
    "prune_lock",
    "running_pruner",
    "stale_reason",
    "store_writer",
    "store_writers",
    "unlock",
]

log = logging.getLogger(__name__)


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


#: A lock owner file is a few hundred bytes; anything larger is not one.
_MAX_INFO = 64 << 10


def _read_info(path: Path) -> LockInfo | None:
    """The owner a lock's ``.json`` file names, None when there is none to read: it is read
    like any small state file anyone may replace (:func:`~navsnap.fsutil.read_regular`: a
    FIFO, a device, a symlink or a huge file in its place is not read, and never blocks)."""
    raw = read_regular(path, limit=_MAX_INFO)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return LockInfo(
            pid=int(data["pid"]),
            host=str(data["host"]),
            started=str(data["started"]),
            purpose=str(data.get("purpose", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_info(info_file: Path, text: str) -> None:
    """Replace ``info_file`` by ``text`` through a new temporary file beside it, created
    exclusively (``mkstemp``): never through a FIFO or a symlink someone put at a guessable
    name."""
    fd, tmp = tempfile.mkstemp(prefix=f".{info_file.name}.", suffix=".tmp", dir=info_file.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, info_file)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def hold_lock(
    lock_file: Path,
    *,
    purpose: str,
    wait: float = 0.0,
    warnings: list[str] | None = None,
    error: type[NavsnapError] = StoreError,
) -> Iterator[LockInfo]:
    """Hold the lock at ``lock_file``; raise :class:`LockHeld` naming the holder after ``wait``.

    A lock file that cannot be created (a read-only filesystem, a missing directory) raises
    ``error``.
    """
    check_non_negative(wait, "wait_lock")
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
        except OSError as exc:  # after Timeout, which is an OSError too
            raise error(
                f"cannot create the lock file {str(lock_file)!r}: {exc.strerror or exc}",
                hint="check that its directory exists and is writable",
            ) from None
    try:
        previous = _read_info(info_file)
        if previous is not None:
            state = (
                "gone"
                if previous.host == socket.gethostname() and not pid_alive(previous.pid)
                else "no longer holding it"
            )
            line = f"took over a stale lock left by {previous.describe()}: process {state}"
            log.info("%s: %s", lock_file, line)
            if warnings is not None:
                warnings.append(line)
        me = LockInfo(
            pid=os.getpid(),
            host=socket.gethostname(),
            started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            purpose=purpose,
        )
        argv = [redact(a) for a in sys.argv[:8]]  # never a store URL's credentials
        try:
            _write_info(info_file, json.dumps({**me.__dict__, "argv": argv}))
        except OSError as exc:  # the lock file exists (an earlier run), the folder is read-only
            raise error(
                f"cannot write the lock owner file {str(info_file)!r}: {exc.strerror or exc}",
                hint="check that its directory is writable",
            ) from None
        try:
            yield me
        finally:
            with contextlib.suppress(FileNotFoundError):
                info_file.unlink()
    finally:
        lock.release()


def db_holder(db_path: Path) -> LockInfo | None:
    """The navsnap process that holds ``db_path``'s lock now, as its owner file says (None:
    no owner file, or it names a process of this host that is gone)."""
    info = _read_info(Path(str(lock_path_for_db(db_path)) + ".json"))
    if info is None or (info.host == socket.gethostname() and not pid_alive(info.pid)):
        return None
    return info


def db_lock(
    db_path: Path, *, purpose: str, wait: float = 0.0, warnings: list[str] | None = None
) -> contextlib.AbstractContextManager[LockInfo]:
    """The writer lock of database ``db_path``."""
    return hold_lock(
        lock_path_for_db(db_path),
        purpose=purpose,
        wait=wait,
        warnings=warnings,
        error=DatabaseError,
    )


def describe(info: LockInfo) -> dict[str, Any]:
    return dict(info.__dict__)


# --------------------------------------------------------------------------- store-side locks
#
# One pruner per store, and pruners never delete objects while a checkpoint is writing:
#
# * the pruner holds ``locks/prune.lock`` (filelock, with ``locks/prune.lock.json`` naming the
#   holder) on a local store, or the lock object ``locks/prune.json`` (pid, host, start, TTL) on
#   a remote store; it takes the lock *before* it looks for writers;
# * a checkpoint writes a marker ``locks/writers/<host>-<pid>-<token>.json`` *before* it looks
#   for a pruner, and removes it after its manifest is written.
#
# So at least one of them sees the other: a pruner that sees a live writer keeps every
# unreferenced object; a writer that sees a running pruner waits for it to finish.

DEFAULT_LOCK_TTL = 6 * 3600.0
PRUNE_LOCK_FILE = layout.PRUNE_LOCK_FILE
PRUNE_LOCK_OBJECT = layout.PRUNE_LOCK_OBJECT
WRITERS_PREFIX = layout.WRITERS


def _my_info(purpose: str) -> LockInfo:
    return LockInfo(
        pid=os.getpid(),
        host=socket.gethostname(),
        started=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        purpose=purpose,
    )


def _info_from_bytes(raw: bytes) -> LockInfo | None:
    try:
        data = json.loads(raw)
        return LockInfo(
            pid=int(data["pid"]),
            host=str(data["host"]),
            started=str(data["started"]),
            purpose=str(data.get("purpose", "")),
        )
    except (ValueError, KeyError, TypeError):
        return None


def stale_reason(info: LockInfo, *, ttl: float = DEFAULT_LOCK_TTL) -> str | None:
    """Why a recorded holder no longer counts, or None.

    Same host: only 'process gone'. Another host: 'older than the lock TTL'.
    """
    if info.host == socket.gethostname():
        # On this host the process table is the truth: a live holder is never stale,
        # however long it runs (a slow upload must keep its checkpoint marker).
        return None if pid_alive(info.pid) else "process gone"
    try:
        started = dt.datetime.fromisoformat(info.started)
    except ValueError:
        return "unreadable start time"
    if started.tzinfo is None:
        started = started.replace(tzinfo=dt.UTC)
    if (dt.datetime.now(dt.UTC) - started).total_seconds() > ttl:
        return f"older than the lock TTL of {ttl:.0f}s"
    return None


def _read_store_info(store: Store, key: str) -> LockInfo | None:
    try:
        return _info_from_bytes(store.read_bytes(key))
    except FileNotFoundError:
        return None


def running_pruner(store: Store, *, ttl: float = DEFAULT_LOCK_TTL) -> LockInfo | None:
    """The live holder of the store's prune lock, or None."""
    # Where the holder is recorded: beside the OS lock file, or the lock object itself.
    key = layout.PRUNE_LOCK_INFO if store.capabilities.local_paths else PRUNE_LOCK_OBJECT
    info = _read_store_info(store, key)
    if info is None or stale_reason(info, ttl=ttl) is not None:
        return None
    return info


@dataclass(frozen=True)
class WriterMarker:
    key: str
    info: LockInfo | None
    stale: str | None


def store_writers(store: Store, *, ttl: float = DEFAULT_LOCK_TTL) -> list[WriterMarker]:
    """Every checkpoint marker in the store, with the reason it is stale (None: live)."""
    out: list[WriterMarker] = []
    for obj in store.list_files(WRITERS_PREFIX):
        info = _read_store_info(store, obj.key)
        reason = "unreadable marker" if info is None else stale_reason(info, ttl=ttl)
        out.append(WriterMarker(obj.key, info, reason))
    return out


@contextlib.contextmanager
def store_writer(
    store: Store, *, purpose: str, wait: float = 600.0, ttl: float = DEFAULT_LOCK_TTL
) -> Iterator[LockInfo]:
    """Mark a checkpoint in progress; wait (up to ``wait`` s) while a pruner holds the store."""
    me = _my_info(purpose)
    key = layout.writer_key(me.host, me.pid)
    # Not fsynced: other processes see it at once, and after a crash of the machine the
    # writer it names is dead anyway (an unreadable or lost marker counts as stale).
    store.write_bytes_atomic(key, json.dumps(me.__dict__).encode(), durable=False)
    try:
        deadline = time.monotonic() + wait
        while (holder := running_pruner(store, ttl=ttl)) is not None:
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"the store is being pruned by {holder.describe()}",
                    holder=holder.__dict__,
                    hint="wait for the prune to finish and run again",
                )
            time.sleep(0.1)
        yield me
    finally:
        with contextlib.suppress(FileNotFoundError):
            store.delete(key)


@contextlib.contextmanager
def prune_lock(
    store: Store,
    *,
    wait: float = 0.0,
    ttl: float = DEFAULT_LOCK_TTL,
    warnings: list[str] | None = None,
) -> Iterator[LockInfo]:
    """The store's single pruner lock (filelock locally, a lock object with a TTL remotely)."""
    check_non_negative(wait, "wait_lock")
    if store.capabilities.local_paths:  # an OS lock: released by the kernel when we die
        path = store.local_path(PRUNE_LOCK_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        with hold_lock(path, purpose="navsnap prune", wait=wait, warnings=warnings) as me:
            yield me
        return
    me = _my_info("navsnap prune")
    body = json.dumps({**me.__dict__, "ttl": ttl}).encode()
    deadline = time.monotonic() + wait
    while True:
        try:
            store.write_bytes_atomic(PRUNE_LOCK_OBJECT, body)
        except FileExistsError:
            holder = _read_store_info(store, PRUNE_LOCK_OBJECT)
            reason = "unreadable lock" if holder is None else stale_reason(holder, ttl=ttl)
            if reason is not None:
                who = holder.describe() if holder else "an unknown process"
                log.info("took over a stale prune lock left by %s: %s", who, reason)
                if warnings is not None:
                    warnings.append(f"took over a stale prune lock left by {who}: {reason}")
                with contextlib.suppress(FileNotFoundError):
                    store.delete(PRUNE_LOCK_OBJECT)
                continue
            if time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            assert holder is not None
            raise LockHeld(
                f"{PRUNE_LOCK_OBJECT} is held by {holder.describe()}",
                holder=holder.__dict__,
                hint="wait for it to finish or pass --wait-lock SECONDS",
            ) from None
        if _read_store_info(store, PRUNE_LOCK_OBJECT) == me:
            break
    try:
        yield me
    finally:
        if _read_store_info(store, PRUNE_LOCK_OBJECT) == me:
            store.delete(PRUNE_LOCK_OBJECT)


@dataclass(frozen=True)
class HeldLock:
    """One lock recorded in a store, and what ``unlock`` did with it."""

    key: str
    #: "prune" (the store's pruner lock) or "writer" (a checkpoint in progress).
    kind: str
    holder: LockInfo | None
    #: Why the holder no longer counts (the automatic takeover's rule), or None: live.
    stale: str | None
    removed: bool
    #: Why a live lock was kept.
    kept_because: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "holder": describe(self.holder) if self.holder else None,
            "stale": self.stale,
            "removed": self.removed,
            "kept_because": self.kept_because,
        }


@dataclass(frozen=True)
class UnlockReport:
    locks: tuple[HeldLock, ...]
    dry_run: bool
    #: Notes for the operator (e.g. a local store's pruner lock is the kernel's).
    notes: tuple[str, ...] = ()

    @property
    def kept_live(self) -> tuple[HeldLock, ...]:
        return tuple(lk for lk in self.locks if not lk.removed and lk.stale is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "locks": [lk.to_dict() for lk in self.locks],
            "notes": list(self.notes),
        }


def unlock(
    store: Store, *, force: bool = False, dry_run: bool = False, ttl: float = DEFAULT_LOCK_TTL
) -> UnlockReport:
    """Remove the store's locks whose holder is gone, by the automatic takeover's rule.

    A stale lock (holder's process gone on this host; older than ``ttl`` from another host;
    unreadable) is removed. A live holder on another host is removed only with ``force``
    (the operator knows that machine is gone); a live process on this host never is.
    A local store's pruner lock is an OS lock that dies with its process: nothing to remove.
    """
    found: list[tuple[str, str]] = []
    notes: list[str] = []
    if store.capabilities.local_paths:
        notes.append(
            "the pruner lock of a local store is released by the kernel when its process ends"
        )
    else:
        found.append((PRUNE_LOCK_OBJECT, "prune"))
    found.extend((obj.key, "writer") for obj in store.list_files(WRITERS_PREFIX))
    here = socket.gethostname()
    out: list[HeldLock] = []
    for key, kind in found:
        try:
            raw = store.read_bytes(key)
        except FileNotFoundError:
            continue
        info = _info_from_bytes(raw)
        reason = "unreadable lock" if info is None else stale_reason(info, ttl=ttl)
        kept: str | None = None
        if reason is None:
            assert info is not None
            if info.host == here:
                kept = f"process {info.pid} is running on this host: stop it first"
            elif not force:
                kept = f"live on {info.host} for up to {ttl:.0f}s: --force if that machine is gone"
        remove = kept is None
        if remove and not dry_run:
            with contextlib.suppress(FileNotFoundError):
                # Same check-then-delete as the automatic takeover: the holder only ever
                # deletes a lock that still carries its own record.
                if store.read_bytes(key) == raw:
                    store.delete(key)
            who = info.describe() if info else "an unknown holder"
            log.info("removed the %s lock %s of %s (%s)", kind, key, who, reason or "forced")
        out.append(HeldLock(key, kind, info, reason, remove, kept))
    return UnlockReport(tuple(out), dry_run, tuple(notes))
