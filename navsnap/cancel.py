"""Cancelling the DuckDB query a run is executing, from another thread.

Python turns SIGINT into ``KeyboardInterrupt`` only when the main thread runs bytecode. While
the main thread is inside a long DuckDB query, DuckDB looks for the signal between its own
tasks, and a pipeline task that the main thread executes itself can run for minutes: Ctrl-C
then seemed to do nothing (seen on a loaded machine, ``tests/test_interrupt.py``). So the year
loop registers the connection its step runs on, and whoever learns of the signal at C level
(the CLI, through ``signal.set_wakeup_fd`` and a watcher thread) calls :func:`cancel_all`,
which stops those queries with DuckDB's own ``interrupt()``; the step then fails with DuckDB's
"Query interrupted" and the run unwinds as it does for any interrupt.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import duckdb

__all__ = ["cancel_all", "cancellable"]

_lock = threading.Lock()
_active: dict[int, duckdb.DuckDBPyConnection] = {}


@contextlib.contextmanager
def cancellable(con: duckdb.DuckDBPyConnection | None) -> Iterator[None]:
    """Let :func:`cancel_all` interrupt the queries ``con`` runs within the block."""
    if con is None:
        yield
        return
    with _lock:
        _active[id(con)] = con
    try:
        yield
    finally:
        with _lock:
            _active.pop(id(con), None)


def cancel_all() -> int:
    """Interrupt every registered connection's running query; how many there were."""
    with _lock:
        cons = list(_active.values())
    for con in cons:
        with contextlib.suppress(duckdb.Error, RuntimeError):
            con.interrupt()
    return len(cons)
