"""The database file and its ``.wal``: temporary files beside it, keeping it aside, swapping.

DuckDB keeps recent commits in ``<file>.wal`` and replays a WAL found at that name when it
opens ``<file>``, even into a database just created there. So the two files move together,
and a ``.wal`` must never stay at the path without the file it belongs to.

**One crash ordering** for everything that moves a database out of the way — a restore's swap
(:func:`swap_into_place`) and ``run --force-restart`` (:func:`move_aside`):

1. the ``.wal``, then the file, get their kept names ``<name>.<UTC time>.<reason>`` and that
   name + ``.wal`` (so opening the kept file replays its last commits). Both are hard links:
   the path still holds the complete old database. Where links fail (some network and FUSE
   filesystems) the ``.wal`` is renamed first, so the path never holds a ``.wal`` without
   its file; then the file is copied (a swap: the path keeps a file until the rename) or
   renamed (moving aside);
2. fsync the directory;
3. the ``.wal`` is removed from the path; fsync the directory;
4. the new file is renamed over the path (atomic), or, when moving aside, the old file is
   removed from it; fsync the directory.

A crash leaves the path holding the old database (before step 4, without its ``.wal`` after
step 3: the commits in it are kept aside), the new one complete, or (moving aside) nothing;
never a half-moved file and never an old ``.wal`` beside a new file. Nothing is deleted: the
kept names hold the old data. The fault points of :mod:`navsnap.faults` sit between the steps
of a restore's swap.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from navsnap.errors import DatabaseError, LockHeld, UsageError
from navsnap.faults import fault_point
from navsnap.fsutil import fsync_dir, fsync_file, pid_alive

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "checked_path",
    "dead_temps",
    "move_aside",
    "raise_if_in_use",
    "remove_with_wal",
    "separate_target",
    "swap_into_place",
    "temp_beside",
    "wal_path",
]


def wal_path(path: Path) -> Path:
    """The WAL DuckDB uses for database file ``path``."""
    return path.with_name(path.name + ".wal")


def checked_path(path: Path, *, option: str = "--db") -> Path:
    """The database path to lock, open and replace: ``path``, or the file a symlink names.

    A symlink is resolved once, here, so that every name of one file takes the same lock and
    a restore replaces the real file (the link stays a link). A dangling symlink names an
    absent file: it is created where the link points. The path must be a regular file or
    absent: a directory, a character or block device, a FIFO or a socket is a
    :class:`DatabaseError` before anything is opened or moved (a FIFO would hang the open, a
    device would be moved aside and replaced by a file). ``option`` names the option the
    path came from, for the hint.
    """
    real = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        return real
    except OSError as exc:
        raise DatabaseError(
            f"database path {str(path)!r} cannot be examined: {exc.strerror}"
        ) from None
    if stat.S_ISREG(mode):
        return real
    what = (
        "a directory"
        if stat.S_ISDIR(mode)
        else "a FIFO"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )
    raise DatabaseError(
        f"database path {str(path)!r} is {what}, not a database file",
        hint=f"nothing was changed; pass a file path to {option}"
        + (" (or NAVSNAP_DB)" if option == "--db" else ""),
    )


def separate_target(
    target: Path, *, option: str, db: Path | None = None, store_root: Path | None = None
) -> None:
    """Refuse an output path (``restore --to``, ``attach --out``) that is the live database
    ``db`` (by any name: a symlink, a hard link) or lies inside a local store's folder
    ``store_root``: ``--to`` would replace the database it promises to leave alone, and either
    would move a file of the store aside. A :class:`UsageError` before anything is read."""
    real = Path(os.path.realpath(target))
    if db is not None:
        same = real == Path(os.path.realpath(db))
        if not same and target.exists() and db.exists():
            same = os.path.samefile(target, db)
        if same:
            raise UsageError(
                f"{option} {str(target)!r} is the database itself",
                hint=f"drop {option} to restore it in place, or name a new file",
            )
    if store_root is not None and real.is_relative_to(Path(os.path.realpath(store_root))):
        raise UsageError(
            f"{option} {str(target)!r} is inside the store {str(store_root)!r}",
            hint="name a file outside the store",
        )


def remove_with_wal(path: Path) -> None:
    """Remove a (temporary) database file and its ``.wal``, if present."""
    for p in (path, wal_path(path)):
        p.unlink(missing_ok=True)


def temp_beside(target: Path, purpose: str) -> Path:
    """This process's temporary file for building a new ``target`` in its directory."""
    return target.with_name(f".{target.name}.navsnap-{purpose}-{os.getpid()}.tmp")


def dead_temps(target: Path, purpose: str) -> list[Path]:
    """Temporary files (and their ``.wal``) of ``purpose`` for ``target`` whose process is
    gone: a killed restore leaves a full copy of the database there."""
    out = []
    prefix = f".{target.name}.navsnap-{purpose}-"
    for p in target.parent.glob(f"{glob.escape(prefix)}*.tmp*"):
        pid = p.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            out.append(p)
    return out


def raise_if_in_use(exc: duckdb.Error, path: Path) -> None:
    """A file another process holds open is in use, not broken: never replace it."""
    text = str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        from navsnap.lock import db_holder  # the lock module needs the store's; not at import

        holder = db_holder(path)
        if holder is not None and holder.pid != os.getpid():  # another navsnap holds its lock
            raise LockHeld(
                f"{path.name}.navsnap.lock is held by {holder.describe()}",
                holder=holder.__dict__,
                hint="wait for it to finish and try again",
            ) from None
        raise DatabaseError(
            f"database {str(path)!r} is open in another process",
            hint="close that process (a notebook, dbt, another navsnap) and try again",
        ) from None


def _keep(old: Path, kept: Path, *, copy: bool) -> None:
    """Give ``old`` the name ``kept`` too (a hard link). Where links fail: a copy (``copy``,
    so the path keeps its file until it is replaced), else a rename."""
    try:
        os.link(old, kept)
    except OSError:
        if not copy:
            os.replace(old, kept)
            return
        shutil.copyfile(old, kept)
        fsync_file(kept)


def _no_fault(_point: str) -> None:
    return None


def _replace(
    target: Path,
    new: Path | None,
    reason: str,
    fault: Callable[[str], None],
) -> tuple[str, ...]:
    """The crash ordering of the module docstring; returns the kept names."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kept_db = target.with_name(f"{target.name}.{stamp}.{reason}")
    directory = target.absolute().parent
    moved: list[str] = []
    fault("before-swap")
    for old, kept in ((wal_path(target), wal_path(kept_db)), (target, kept_db)):
        if old.exists():
            # A swap keeps the file at the path until the rename replaces it.
            _keep(old, kept, copy=new is not None and old == target)
            moved.append(str(kept))
    if moved:
        fsync_dir(directory)
    fault("after-move-aside")
    wal_path(target).unlink(missing_ok=True)
    fsync_dir(directory)
    fault("after-move-aside")
    if new is not None:
        os.replace(new, target)
    else:
        target.unlink(missing_ok=True)
    fsync_dir(directory)
    fault("after-swap")
    # Report the file first, then its .wal.
    return tuple(sorted(moved, key=lambda p: p.endswith(".wal")))


def swap_into_place(new: Path, target: Path, *, reason: str) -> tuple[str, ...]:
    """Keep the old ``target`` (and ``.wal``) aside as ``reason``, rename ``new`` into place.

    ``new`` must be complete and fsynced, without a ``.wal``. Returns the kept names. Reaches
    the fault points ``restore-before-swap``, ``restore-after-move-aside`` (twice) and
    ``restore-after-swap``.
    """
    return _replace(target, new, reason, lambda stage: fault_point(f"restore-{stage}"))


def move_aside(target: Path, reason: str) -> tuple[str, ...]:
    """Keep the database (and ``.wal``) aside as ``reason`` and leave its path free."""
    if not (target.exists() or wal_path(target).exists()):
        return ()
    return _replace(target, None, reason, _no_fault)
