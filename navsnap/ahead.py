"""A DuckDB connection started in a thread while the caller does other work.

Creating a DuckDB instance costs tens of milliseconds of CPU (``duckdb.connect()``, even in
memory), and attaching a database file to an instance that exists costs about a millisecond.
A hot restore or ``attach`` first writes or clones a file (bounded by the disk or by hashing,
both of which release the GIL, as ``duckdb.connect`` does), then opens it: with
:func:`connect_ahead` the instance is made meanwhile, and the file is ``ATTACH``-ed to it when
it is ready. Nothing about the file changes: it is opened by the same DuckDB, in the same
mode, only under an alias instead of as the connection's first database.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

import duckdb

__all__ = ["connect_ahead"]


@contextlib.contextmanager
def connect_ahead(
    make: Callable[[], duckdb.DuckDBPyConnection] | None = None,
) -> Iterator[Callable[[], duckdb.DuckDBPyConnection]]:
    """Start ``duckdb.connect()`` (in memory) in a thread; yields ``ready``, which waits for it
    and returns the connection (raising its error, if it failed). On leaving, the thread is
    waited for and the connection closed, whether or not ``ready`` was called.

    ``make``: what the thread calls instead, such as :func:`navsnap.scratch.cursor` (a cursor
    of the process's scratch instance, which is made then only if the process has none)."""
    made: list[duckdb.DuckDBPyConnection] = []
    failed: list[BaseException] = []
    connect = make or duckdb.connect

    def run() -> None:
        try:
            made.append(connect())
        except BaseException as exc:  # handed to the caller's thread by ready()
            failed.append(exc)

    worker = threading.Thread(target=run, name="navsnap-connect", daemon=True)
    worker.start()

    def ready() -> duckdb.DuckDBPyConnection:
        worker.join()
        if failed:
            raise failed[0]
        return made[0]

    try:
        yield ready
    finally:
        worker.join()
        for con in made:
            con.close()
