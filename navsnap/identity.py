"""Which database a snapshot belongs to, and which snapshots belong to a database.

A snapshot's database is the name recorded as the manifest's ``database_name``: the stem of
the database file (``simulation.duckdb`` -> ``simulation``), which is also the catalog name
DuckDB gives the file. It is derived from the path, never read from inside the database,
because a restore needs it exactly when the live file is corrupt or gone.

Every command that *selects* snapshots for a database (by year, run, ``latest``, or to
resume) selects among :func:`snapshots_of` that database only. Another database's snapshot
is used only when named explicitly (its id or a tag), and :func:`foreign_note` then says so.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from navsnap.manifest import Manifest

__all__ = ["belongs", "database_name", "foreign_note", "lineage_label", "snapshots_of"]


def database_name(db_path: str | os.PathLike[str]) -> str:
    """The database identity of the file at ``db_path``: its stem, after a symlink is resolved
    as :func:`navsnap.dbfile.checked_path` resolves it (the catalog name DuckDB gives the file
    navsnap opens, and so the name its snapshots record)."""
    path = Path(os.fspath(db_path))
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    return path.stem


def belongs(manifest: Manifest, database: str) -> bool:
    """True when ``manifest`` is a snapshot of ``database`` (the one rule, used everywhere)."""
    return manifest.database_name == database


def snapshots_of(manifests: Iterable[Manifest], database: str) -> list[Manifest]:
    """The snapshots of ``database`` among ``manifests``, in their order."""
    return [m for m in manifests if belongs(m, database)]


def lineage_label(manifest: Manifest) -> str:
    """The short form of a snapshot's lineage (its configuration hash) shown to users."""
    return manifest.config_hash[:8]


def foreign_note(manifest: Manifest, database: str) -> str | None:
    """What to say when an explicitly named snapshot is of another database (else None)."""
    if belongs(manifest, database):
        return None
    total = f"{manifest.total_rows:,} rows"
    return (
        f"snapshot {manifest.snapshot_id} is from database {manifest.database_name} "
        f"(lineage {lineage_label(manifest)}, {total}), not {database}"
    )
