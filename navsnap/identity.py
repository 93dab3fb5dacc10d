"""Which database a snapshot belongs to, and which snapshots belong to a database.

A database's identity is the stem of its file (``simulation.duckdb`` -> ``simulation``,
``sim.v2.duckdb`` -> ``sim.v2``, ``.hidden.duckdb`` -> ``.hidden``), after a symlink is
resolved. It is derived from the path, never read from inside the database, because a
restore needs it exactly when the live file is corrupt or gone. A manifest records it as
``database_id``; ``database_name`` is DuckDB's catalog name for the file
(``current_database()``, which stops at the first dot: ``sim`` for both ``sim.duckdb`` and
``sim.v2.duckdb``), kept only to rewrite view SQL that names the catalog.

A manifest written before ``database_id`` existed records only the catalog name, which
several files may share. It belongs to the file whose stem *is* that catalog name, unless
the store shows another file giving the same catalog name (a manifest recording a different
``database_id`` under that ``database_name``); for that file, and for every file whose stem
differs from its catalog name but gives the same one, it cannot be told apart. A selection
that would weigh such a snapshot refuses (:func:`ambiguous`, exit 2) and asks for the
snapshot by its id, never guessing.

Every command that *selects* snapshots for a database (by year, run, ``latest``, or to
resume) selects among :func:`snapshots_of` that database only. Another database's snapshot
is used only when named explicitly (its id or a tag), and :func:`foreign_note` then says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from navsnap.errors import UsageError

if TYPE_CHECKING:
    from navsnap.manifest import Manifest

__all__ = [
    "ambiguous",
    "belongs",
    "catalog_name",
    "database_name",
    "database_of",
    "foreign_note",
    "lineage_label",
    "newest_of",
    "owner_key",
    "snapshots_of",
    "undecided_of",
]

#: Catalog names DuckDB keeps for itself; a file so named gets ``<name>_db``.
_RESERVED_CATALOGS = ("main", "temp", "system")


def ambiguous(manifest: Manifest, database: str, *, hint: str | None = None) -> UsageError:
    """The refusal for a snapshot written before manifests recorded their database file
    that may be ``database``'s or another file's DuckDB gives the same catalog name."""
    return UsageError(
        f"snapshot {manifest.snapshot_id} predates recorded database files and may be of "
        f"{database} or of another file DuckDB also names {manifest.database_name!r}",
        hint=hint or f"name the snapshot to use by its id: {manifest.snapshot_id}",
    )


def database_name(db_path: str | os.PathLike[str]) -> str:
    """The database identity of the file at ``db_path``: its stem, after a symlink is resolved
    as :func:`navsnap.dbfile.checked_path` resolves it (recorded as ``database_id``)."""
    path = Path(os.fspath(db_path))
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    return path.stem


def catalog_name(database: str) -> str:
    """The catalog name DuckDB gives a file of identity ``database`` (``current_database()``):
    its first non-empty dot-separated part, ``_db`` added to a name DuckDB reserves."""
    name = next((part for part in database.split(".") if part), database)
    return f"{name}_db" if name in _RESERVED_CATALOGS else name


def _shared_catalogs(pool: Iterable[Manifest]) -> frozenset[str]:
    """Catalog names the store shows a file of another stem giving."""
    return frozenset(
        m.database_name
        for m in pool
        if m.database_id is not None and m.database_id != m.database_name
    )


def database_of(manifest: Manifest, database: str, *, shared: frozenset[str]) -> bool | None:
    """Whether ``manifest`` is a snapshot of ``database``: True, False, or None when it was
    written before ``database_id`` and cannot be told apart (``shared``: the catalog names
    the store shows a file of another stem giving, see the module docstring)."""
    if manifest.database_id is not None:
        return manifest.database_id == database
    if manifest.database_name != catalog_name(database):
        return False
    if database == manifest.database_name and manifest.database_name not in shared:
        return True
    return None


def belongs(manifest: Manifest, database: str) -> bool:
    """True when ``manifest`` is certainly a snapshot of ``database`` (the one rule, used
    everywhere), judged from the manifest alone (:func:`snapshots_of` also weighs the store's
    other manifests, which may show that an old manifest's catalog name is shared)."""
    return database_of(manifest, database, shared=frozenset()) is True


def snapshots_of(
    manifests: Iterable[Manifest], database: str, *, strict: bool = True
) -> list[Manifest]:
    """The snapshots of ``database`` among ``manifests``, in their order. ``strict``: refuse
    (:func:`ambiguous`) when one may be this database's but cannot be told apart;
    otherwise leave it out (see :func:`undecided_of`)."""
    pool = list(manifests)
    shared = _shared_catalogs(pool)
    mine: list[Manifest] = []
    for m in pool:
        verdict = database_of(m, database, shared=shared)
        if verdict is None and strict:
            raise ambiguous(m, database)
        if verdict:
            mine.append(m)
    return mine


def undecided_of(manifests: Iterable[Manifest], database: str) -> list[Manifest]:
    """The snapshots among ``manifests`` that may be of ``database`` but cannot be told apart
    (written before manifests recorded ``database_id``)."""
    pool = list(manifests)
    shared = _shared_catalogs(pool)
    return [m for m in pool if database_of(m, database, shared=shared) is None]


def newest_of(
    manifests: Iterable[Manifest],
    database: str,
    *,
    keep: Callable[[Manifest], bool] = lambda _m: True,
    hint: Callable[[Manifest], str] | None = None,
) -> Manifest | None:
    """The newest (``created_at``, then id) snapshot of ``database`` among ``manifests``
    that ``keep`` accepts; None when there is none. Refuses (:func:`ambiguous`, its hint
    ``hint(snapshot)``) when one that ``keep`` accepts may be this database's but cannot be
    told apart and would be newer: never a guess. One pass over the pool."""
    pool = list(manifests)
    shared = _shared_catalogs(pool)
    newest: Manifest | None = None
    undecided: list[Manifest] = []
    for m in pool:
        if not keep(m):
            continue
        verdict = database_of(m, database, shared=shared)
        if verdict is None:
            undecided.append(m)
        elif verdict and (newest is None or _order(m) > _order(newest)):
            newest = m
    for m in undecided:
        if newest is None or _order(m) > _order(newest):
            raise ambiguous(m, database, hint=hint(m) if hint is not None else None)
    return newest


def _order(m: Manifest) -> tuple[str, str]:
    return (m.created_at, m.snapshot_id)


def owner_key(manifest: Manifest) -> str:
    """The database a snapshot is grouped under (retention, hot copies, listings): its
    ``database_id``; for a manifest written before that field, its catalog name marked as
    such, so such snapshots never join (and are never pruned for) a database recorded by
    file."""
    if manifest.database_id is not None:
        return manifest.database_id
    return f"{manifest.database_name} (file not recorded)"


def lineage_label(manifest: Manifest) -> str:
    """The short form of a snapshot's lineage (its configuration hash) shown to users."""
    return manifest.config_hash[:8]


def foreign_note(manifest: Manifest, database: str) -> str | None:
    """What to say when an explicitly named snapshot is not certainly of ``database`` (else
    None)."""
    if belongs(manifest, database):
        return None
    total = f"{manifest.total_rows:,} rows"
    return (
        f"snapshot {manifest.snapshot_id} is from database {owner_key(manifest)} "
        f"(lineage {lineage_label(manifest)}, {total}), not {database}"
    )
