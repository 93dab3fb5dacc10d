"""A database file attached to a connection: the one home of ``ATTACH`` / ``USE`` / ``DETACH``.

Three callers attach a file to a connection that is not the file's own, work in it as the
current database, and detach it: a full restore its new file
(:func:`navsnap.restore.build.build_full`), ``attach`` its views file on the scratch instance
(:mod:`navsnap.analyst`), and a hot restore, ``attach``'s clone and ``sql`` a hot copy
(:func:`navsnap.hot.attach_copy`, which names its failures for the fallback to Parquet).

The alias is always quoted and the path bound as a literal; a file that was attached but
cannot be made current is detached again before the error propagates. A file is closed, and
DuckDB's lock on it released, only by a ``DETACH`` that succeeds: :func:`attached` detaches
strictly when its block succeeded (an error then says the file is still open) and quietly
when the block failed (its error is the one that matters).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import duckdb

from navsnap.catalog import quote_ident, quote_literal

__all__ = ["attach_file", "attached", "detach_file"]


def attach_file(
    con: duckdb.DuckDBPyConnection, path: Path, *, alias: str, options: str = ""
) -> str:
    """ATTACH ``path`` to ``con`` as ``alias`` (``options``: `` (READ_ONLY)``, a storage
    version, from :mod:`navsnap.engine`) and make it the current database; returns the quoted
    alias. duckdb.Error, and nothing left attached, when either fails."""
    quoted = quote_ident(alias)
    con.execute(f"ATTACH {quote_literal(str(path))} AS {quoted}{options}")
    try:
        con.execute(f"USE {quoted}")
    except BaseException:
        detach_file(con, quoted, strict=False)
        raise
    return quoted


def detach_file(con: duckdb.DuckDBPyConnection, quoted: str, *, strict: bool = True) -> None:
    """Back to ``con``'s in-memory database, and the file attached as ``quoted`` (as
    :func:`attach_file` returns it) detached. ``strict`` False: errors are ignored."""
    if not strict:
        with contextlib.suppress(duckdb.Error):
            con.execute("USE memory")
        with contextlib.suppress(duckdb.Error):
            con.execute(f"DETACH {quoted}")
        return
    con.execute("USE memory")
    con.execute(f"DETACH {quoted}")


@contextlib.contextmanager
def attached(
    con: duckdb.DuckDBPyConnection, path: Path, *, alias: str, options: str = ""
) -> Iterator[str]:
    """:func:`attach_file` for the block, which gets the quoted alias; detached on leaving
    (strictly after a block that succeeded, quietly after one that raised)."""
    quoted = attach_file(con, path, alias=alias, options=options)
    try:
        yield quoted
    except BaseException:
        detach_file(con, quoted, strict=False)
        raise
    detach_file(con, quoted)
