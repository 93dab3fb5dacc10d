"""Which database a snapshot belongs to.

A snapshot's database is the name recorded as the manifest's ``database_name``: the stem of
the database file (``simulation.duckdb`` -> ``simulation``), which is also the catalog name
DuckDB gives the file. It is derived from the path, never read from inside the database,
because a restore needs it exactly when the live file is corrupt or gone.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["database_name"]


def database_name(db_path: str | os.PathLike[str]) -> str:
    """The database identity of the file at ``db_path`` (its stem)."""
    return Path(os.fspath(db_path)).stem
