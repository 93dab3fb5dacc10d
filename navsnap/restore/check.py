"""Restore, step 4: check. The restored data against the manifest, before anything is swapped
or committed: :mod:`navsnap.compare` finds the differences, this module raises on them.

When another DuckDB wrote the manifest (its fingerprints compare here only by row count), the
restored tables are compared with the snapshot's own Parquet objects, fingerprinted by the
running engine (:func:`navsnap.compare.reference_mismatches`): full strength either way.

A restore contains only what its snapshot lists: :func:`check_catalog` lists the catalog of
the restored database (tables, views, schemas, macros, types, sequences, indexes, other
attached databases, secrets) and any object the manifest does not name fails the restore."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

import duckdb

from navsnap.catalog import (
    CatalogName,
    Macro,
    catalog_names,
    list_comments,
    partition_filter,
    table_info,
)
from navsnap.compare import (
    Mismatch,
    aggregate_mismatches,
    comment_changes,
    full_strength,
    partition_mismatches,
    reference_mismatches,
    table_mismatches,
    unlisted_objects,
)
from navsnap.errors import RestoreError
from navsnap.manifest import DdlEntry, Manifest, PartitionKey, TableEntry
from navsnap.materialize import local_files
from navsnap.store import Store

__all__ = [
    "check_aggregates",
    "check_catalog",
    "check_comments",
    "check_partitions",
    "check_tables",
]

_HINT = "nothing was changed; run 'navsnap verify --deep' on the snapshot"


def _raise_on(mismatches: Sequence[Mismatch], manifest: Manifest, what: str) -> None:
    if mismatches:
        raise RestoreError(
            f"{what} does not match snapshot {manifest.snapshot_id}: "
            + "; ".join(m.describe() for m in mismatches[:5]),
            hint=_HINT,
        )


def check_tables(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    entries: Sequence[TableEntry],
    *,
    store: Store,
) -> None:
    """Every partition of every restored table fingerprints as in the manifest (as its
    Parquet, under another engine than the manifest's)."""
    full = full_strength(manifest)
    for entry in entries:
        if full:
            found = table_mismatches(con, manifest, entry)
        else:
            objects = list({p.object.key: p.object for p in entry.partitions}.values())
            with local_files(store, objects) as files:
                found = reference_mismatches(con, entry, files)
        _raise_on(found, manifest, f"restored table {entry.name}")


def check_partitions(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    rewritten: Sequence[tuple[TableEntry, PartitionKey]],
    *,
    store: Store,
) -> None:
    """Each rewritten partition fingerprints as in the manifest (as its Parquet, under
    another engine than the manifest's); a dropped one is empty."""
    full = full_strength(manifest)
    for entry, key in rewritten:
        part = entry.partition(key)
        if full or part is None:
            found = partition_mismatches(con, manifest, entry, [key])
        else:
            info = table_info(entry)
            source = f"(SELECT * FROM {info.ref}{partition_filter(info, key)})"
            with local_files(store, [part.object]) as files:
                found = reference_mismatches(
                    con, entry, files, info=info, source=source, keys=[key]
                )
        _raise_on(found, manifest, f"rewritten partition {entry.name} {key}")


def check_aggregates(con: duckdb.DuckDBPyConnection, manifest: Manifest) -> None:
    """The validation aggregates and SQL checks recompute to the manifest's values."""
    _raise_on(aggregate_mismatches(con, manifest), manifest, "the restored database")


def check_comments(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    *,
    macros: list[Macro] | None = None,
) -> None:
    """The comments of ``con``'s current database are the snapshot's, every one.
    ``macros``: its :func:`~navsnap.catalog.list_macros`, when just read."""
    changes = comment_changes(list_comments(con, macros=macros), manifest.comments)
    if changes:
        raise RestoreError(
            f"the restored database's comments do not match snapshot {manifest.snapshot_id}: "
            f"{len(changes)} differ, first: {changes[0][:120]}",
            hint=_HINT,
        )


def check_catalog(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    *,
    tables: Collection[str] | None = None,
    allowed: Iterable[CatalogName] = (),
    objects: Iterable[DdlEntry] | None = None,
) -> None:
    """The current database of ``con`` holds only objects the manifest lists (and, restoring
    every table, all of them). ``tables``: the restored selection (None: every table);
    ``allowed``: objects that were there before the restore began; ``objects``: its
    :func:`~navsnap.catalog.list_objects`, when just read."""
    live = catalog_names(con, objects=objects)
    found = unlisted_objects(live, manifest, tables=tables, allowed=allowed)
    if found:
        raise RestoreError(
            f"the restored database does not match snapshot {manifest.snapshot_id}: "
            + "; ".join(m.describe() for m in found[:5]),
            hint="nothing was changed; a snapshot restores only what its manifest lists "
            "(run 'navsnap verify --deep' on it)",
        )
