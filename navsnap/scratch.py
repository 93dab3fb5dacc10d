"""The process's scratch DuckDB: one in-memory instance for work that needs an engine but no
database of its own.

Creating a DuckDB instance costs tens of milliseconds of CPU (30 ms under DuckDB 2.0, and
6 ms more to close it), more than the work of the users here:

* parsing a manifest's SQL texts (:mod:`navsnap.manifest_check`), which every command that
  reads a manifest does;
* writing ``attach``'s file of views over a local store (:mod:`navsnap.analyst`): the new
  file is ``ATTACH``-ed to this instance under an alias of its own, written, CHECKPOINTed
  and ``DETACH``-ed, where it used to be opened as a new instance's own database;
* checking ``attach``'s reflink clone of a hot copy and adding its ``navsnap_info``
  (:func:`navsnap.analyst._clone_hot`), attached the same way; none of the snapshot's own
  SQL runs there.

The instance is made on first use (``threads`` 1: the work is small) and lives as long as
the process. Each caller works on a cursor of its own (:func:`cursor`), a connection to the
same instance whose current database (``USE``) is its own; whatever a caller attaches it
detaches before it returns, so the instance holds nothing but its empty in-memory database
between uses. Nothing that registers state on the instance (a filesystem, a setting) may
use it: a remote store's views file is written by an instance of its own, and so is the
views file of a snapshot whose own macros or views could name the instance's database
(``memory``), which a hostile manifest would otherwise leave objects in.
"""

from __future__ import annotations

import threading

import duckdb

__all__ = ["cursor"]

_LOCK = threading.Lock()
_INSTANCE: list[duckdb.DuckDBPyConnection] = []


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to the scratch instance (made on the first call); the caller closes
    it. Safe from any thread: each thread works on its own cursor."""
    with _LOCK:
        if not _INSTANCE:
            # Manifest text is parsed here (column types bind through sqltype): a type
            # DuckDB knows from an extension must not make it download one.
            _INSTANCE.append(
                duckdb.connect(
                    ":memory:", config={"threads": 1, "autoinstall_known_extensions": False}
                )
            )
        return _INSTANCE[0].cursor()
