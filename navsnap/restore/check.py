"""Restore, step 4: check. The restored data against the manifest, before anything is swapped
or committed: :mod:`navsnap.compare` finds the differences, this module raises on them."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from navsnap.compare import (
    Mismatch,
    aggregate_mismatches,
    partition_mismatches,
    table_mismatches,
)
from navsnap.errors import RestoreError
from navsnap.manifest import Manifest, PartitionKey, TableEntry

__all__ = ["check_aggregates", "check_partitions", "check_tables"]

_HINT = "nothing was changed; run 'navsnap verify --deep' on the snapshot"


def _raise_on(mismatches: Sequence[Mismatch], manifest: Manifest, what: str) -> None:
    if mismatches:
        raise RestoreError(
            f"{what} does not match snapshot {manifest.snapshot_id}: "
            + "; ".join(m.describe() for m in mismatches[:5]),
            hint=_HINT,
        )


def check_tables(
    con: duckdb.DuckDBPyConnection, manifest: Manifest, entries: Sequence[TableEntry]
) -> None:
    """Every partition of every restored table fingerprints as in the manifest."""
    for entry in entries:
        _raise_on(table_mismatches(con, manifest, entry), manifest, f"restored table {entry.name}")


def check_partitions(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    rewritten: Sequence[tuple[TableEntry, PartitionKey]],
) -> None:
    """Each rewritten partition fingerprints as in the manifest (a dropped one is empty)."""
    for entry, key in rewritten:
        _raise_on(
            partition_mismatches(con, manifest, entry, [key]),
            manifest,
            f"rewritten partition {entry.name} {key}",
        )


def check_aggregates(con: duckdb.DuckDBPyConnection, manifest: Manifest) -> None:
    """The validation aggregates and SQL checks recompute to the manifest's values."""
    _raise_on(aggregate_mismatches(con, manifest), manifest, "the restored database")
