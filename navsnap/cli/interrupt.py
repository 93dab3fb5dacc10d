"""Ctrl-C: one SIGINT handler for the whole command, and the line that says how to go on.

Python turns SIGINT into ``KeyboardInterrupt``, but DuckDB catches it inside a query and
raises ``RuntimeError("Query interrupted")`` instead, and a step may wrap that again in a
:class:`~navsnap.errors.StepError`. So the CLI records that SIGINT arrived: whatever
exception then ends the command, the outcome is an interrupt (exit 130), never an internal
error. The state left behind is what the library's ``finally`` blocks leave, which is never
worse than a kill at the same moment (no manifest is half-written; locks are released).

A main thread inside a long DuckDB query may not look at the signal for minutes, so the
signal is also seen at C level: ``signal.set_wakeup_fd`` writes it to a pipe that a watcher
thread reads, and the watcher interrupts the running query (:func:`navsnap.cancel.cancel_all`).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = ["Interrupts", "continue_command"]


class Interrupts:
    """Records SIGINT while installed, and raises ``KeyboardInterrupt`` as Python does."""

    def __init__(self) -> None:
        self.received = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        raise KeyboardInterrupt

    def _watch(self, fd: int) -> None:
        """Watcher thread: on SIGINT, interrupt the query the main thread may be stuck in."""
        while True:
            try:
                data = os.read(fd, 64)
            except OSError:
                return
            if not data:
                return
            if signal.SIGINT in data:
                self.received = True
                # Imported here, not at start: it imports DuckDB, which --version never needs
                # (a query to cancel means DuckDB is loaded already).
                from navsnap.cancel import cancel_all

                cancel_all()

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` again if SIGINT arrived and was swallowed below us
        (a fallback path that caught DuckDB's "Query interrupted"). Never while an exception
        is propagating: the library's ``finally`` blocks must run to the end."""
        if self.received and sys.exc_info()[1] is None:
            raise KeyboardInterrupt

    @contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """Install the handler for the block (main thread only; an ignored SIGINT, as in a
        background job started with ``&``, stays ignored)."""
        previous: Any = None
        wakeup: tuple[int, int, int] | None = None  # (read end, write end, previous fd)
        if threading.current_thread() is threading.main_thread():
            current = signal.getsignal(signal.SIGINT)
            if current is not signal.SIG_IGN:
                previous = current
                signal.signal(signal.SIGINT, self._handle)
                r, w = os.pipe()
                os.set_blocking(w, False)
                wakeup = (r, w, signal.set_wakeup_fd(w, warn_on_full_buffer=False))
                watcher = threading.Thread(
                    target=self._watch, args=(r,), name="navsnap-sigint", daemon=True
                )
                watcher.start()
        try:
            yield self
        finally:
            if wakeup is not None:
                r, w, old_fd = wakeup
                signal.set_wakeup_fd(old_fd)
                os.close(w)  # the watcher reads end-of-file and returns
                watcher.join(timeout=5)
                with contextlib.suppress(OSError):
                    os.close(r)
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def continue_command(argv: Sequence[str], *, progressed: bool = True) -> str:
    """The command line that continues an interrupted ``run``: the same arguments, without
    ``--force-restart`` and ``--from-snapshot``, with ``--resume``. A run that started over
    (``--force-restart``, ``--from-snapshot``) and snapshotted no year yet (``progressed``
    False) has nothing of its own to resume from: ``--resume`` would continue the old chain
    (or refuse a changed configuration), so the command is the same one again."""
    starts_over = any(
        a in ("--force-restart", "--from-snapshot") or a.startswith("--from-snapshot=")
        for a in argv
    )
    if starts_over and not progressed:
        return shlex.join(["navsnap", *argv])
    out: list[str] = []
    skip_value = False
    for arg in argv:
        if skip_value:
            skip_value = False
            continue
        if arg == "--force-restart" or arg.startswith("--from-snapshot="):
            continue
        if arg == "--from-snapshot":
            skip_value = True
            continue
        out.append(arg)
    if "--resume" not in out:
        out.append("--resume")
    return shlex.join(["navsnap", *out])
