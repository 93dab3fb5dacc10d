"""Compare a database (or views over a snapshot's Parquet) with a manifest.

The one place that decides whether data matches a snapshot: row counts and fingerprints per
partition, and the validation aggregates and SQL checks. Differences come back as
:class:`Mismatch` values; callers decide what they mean (restore raises, verify reports, the
delta planner reloads or drops the partitions concerned).

Fingerprints use DuckDB's ``hash()``, which changed between DuckDB releases. Under a release
that hashes as the one that wrote the manifest (:func:`navsnap.engine.same_hash`), data is
compared with the manifest's fingerprints at full strength; under another one those compare
only by row count (:func:`full_strength`), so the restore check and the delta planner compare
the data with the snapshot's own Parquet instead, both fingerprinted by the running engine
(:func:`reference_mismatches`): full strength whatever engine wrote the snapshot.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import duckdb

from navsnap import engine
from navsnap.catalog import (
    CatalogName,
    TableInfo,
    column_signature,
    comment_sql,
    entry_columns,
    fingerprints,
    parquet_list,
    partition_filter,
    select_with_types,
    table_info,
)
from navsnap.errors import ConfigError
from navsnap.manifest import Comment, DdlEntry, Fingerprint, Manifest, PartitionKey, TableEntry
from navsnap.validation import compute_checks, recompute_validation

__all__ = [
    "Mismatch",
    "aggregate_mismatches",
    "comment_changes",
    "compare_fingerprints",
    "full_strength",
    "parquet_fingerprints",
    "partition_mismatches",
    "reference_mismatches",
    "same_fingerprint",
    "schema_objects_differ",
    "shape_difference",
    "table_mismatches",
    "unlisted_objects",
]


@dataclass(frozen=True)
class Mismatch:
    """One difference between data and a manifest.

    ``kind`` is ``"partition"`` (``want`` None: a partition the manifest does not have;
    ``got`` None: a partition missing from the data), ``"unreadable"`` (the data could not be
    read), ``"validation"`` or ``"checks"`` (``keys`` names the aggregates that differ),
    ``"catalog"`` (``detail`` names an object the manifest does not list, or one missing).
    """

    kind: str
    table: str | None = None
    partition: PartitionKey | None = None
    want: Fingerprint | None = None
    got: Fingerprint | None = None
    keys: tuple[str, ...] = ()
    detail: str = ""

    def describe(self) -> str:
        """One line for a message or a report."""
        if self.kind == "partition":
            if self.want is None:
                what = "is not in the snapshot"
            elif self.got is None:
                what = "is missing"
            else:
                what = f"has rows/fingerprint {self.got.as_str()}, expected {self.want.as_str()}"
            return f"{self.table} {self.partition}: {what}"
        if self.kind == "unreadable":
            return f"{self.table}: unreadable: {self.detail}"
        if self.kind == "catalog":
            return self.detail
        label = "validation aggregates" if self.kind == "validation" else "SQL checks"
        if self.detail:
            return f"{label} could not be recomputed: {self.detail}"
        return f"{label} differ: {', '.join(self.keys)}"


def full_strength(manifest: Manifest) -> bool:
    """Whether fingerprints computed here compare with the manifest's at full strength: the
    DuckDB that wrote it hashes as the running one does (:func:`navsnap.engine.same_hash`)."""
    return engine.same_hash(manifest.duckdb_version)


def same_fingerprint(a: Fingerprint, b: Fingerprint, *, full: bool) -> bool:
    """Equal fingerprints; only equal row counts when ``full`` is false."""
    return a == b if full else a.rows == b.rows


def compare_fingerprints(
    entry: TableEntry,
    got: Mapping[PartitionKey, Fingerprint],
    *,
    full: bool,
    keys: Collection[PartitionKey] | None = None,
) -> list[Mismatch]:
    """Partitions of ``entry`` whose fingerprint in ``got`` differs (pure).

    ``keys`` limits the comparison to those partitions (each of which the data must hold
    exactly as the manifest does, or not at all when the manifest does not list it).
    """
    want = {p.year: p.fingerprint for p in entry.partitions}
    scope = set(want) | set(got) if keys is None else set(keys)
    out: list[Mismatch] = []
    for key in sorted(scope):
        w, g = want.get(key), got.get(key)
        if w is None and g is None:
            continue
        if w is not None and g is not None and same_fingerprint(w, g, full=full):
            continue
        out.append(Mismatch("partition", entry.name, key, w, g))
    return out


def table_mismatches(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    entry: TableEntry,
    *,
    info: TableInfo | None = None,
    source: str | None = None,
    keys: Collection[PartitionKey] | None = None,
) -> list[Mismatch]:
    """Fingerprint the table (``info``, by default as the manifest describes it; or
    ``source`` read as that table) and compare it with ``entry``."""
    got = fingerprints(
        con, info or table_info(entry), source=source, scheme=manifest.fingerprint_version
    )
    return compare_fingerprints(entry, got, full=full_strength(manifest), keys=keys)


def parquet_fingerprints(
    con: duckdb.DuckDBPyConnection, entry: TableEntry, files: Sequence[str]
) -> dict[PartitionKey, Fingerprint]:
    """Fingerprints of a table's Parquet ``files`` under the running engine, read as the table:
    the recorded column types, text-encoded columns cast back."""
    if not files:
        return {}
    info = table_info(entry)
    source = select_with_types(info.columns, f"read_parquet({parquet_list(files)})")
    return fingerprints(con, info, source=source)


def reference_mismatches(
    con: duckdb.DuckDBPyConnection,
    entry: TableEntry,
    files: Sequence[str],
    *,
    info: TableInfo | None = None,
    source: str | None = None,
    keys: Collection[PartitionKey] | None = None,
) -> list[Mismatch]:
    """Compare a table with the snapshot's own Parquet ``files`` (verified objects), both
    fingerprinted by the running engine: full strength whatever DuckDB wrote the manifest.

    The Parquet must hold the manifest's row counts (all a fingerprint of another engine
    still proves), and the table's fingerprints must be the Parquet's. ``files`` hold the
    partitions ``keys`` (every partition when None).
    """
    ref = parquet_fingerprints(con, entry, files)
    out = compare_fingerprints(entry, ref, full=False, keys=keys)
    if out:
        return out
    rebased = replace(
        entry,
        partitions=tuple(
            replace(p, fingerprint=ref[p.year]) for p in entry.partitions if p.year in ref
        ),
    )
    got = fingerprints(con, info or table_info(entry), source=source)
    return compare_fingerprints(rebased, got, full=True, keys=keys)


def partition_mismatches(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    entry: TableEntry,
    keys: Collection[PartitionKey],
) -> list[Mismatch]:
    """Compare only the rows of partitions ``keys`` of the live table with ``entry``."""
    info = table_info(entry)
    out: list[Mismatch] = []
    for key in sorted(keys):
        source = f"(SELECT * FROM {info.ref}{partition_filter(info, key)})"
        out += table_mismatches(con, manifest, entry, info=info, source=source, keys=[key])
    return out


def _differing(got: Mapping[str, Any], want: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in set(got) | set(want) if got.get(k) != want.get(k)))


def aggregate_mismatches(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    *,
    checks: Mapping[str, str] | None = None,
) -> list[Mismatch]:
    """Recompute the manifest's validation aggregates over ``con``'s tables, and the SQL
    ``checks`` of the *local* configuration that the manifest recorded a value for.

    Check SQL is never taken from a manifest (``config.values.checks`` is the writer's, and a
    store is untrusted input): without local ``checks`` no SQL check is run.
    """
    out: list[Mismatch] = []
    if manifest.validation:
        try:
            got = recompute_validation(con, manifest)
        except duckdb.Error as exc:
            return [Mismatch("validation", detail=str(exc).splitlines()[0])]
        keys = _differing(got, manifest.validation)
        if keys:
            out.append(Mismatch("validation", keys=keys))
    local = {k: v for k, v in (checks or {}).items() if k in manifest.checks}
    if local:
        try:
            got_checks = compute_checks(con, local, year=manifest.year)
        except ConfigError as exc:
            return [*out, Mismatch("checks", detail=exc.one_line())]
        keys = tuple(k for k in sorted(local) if got_checks.get(k) != manifest.checks[k])
        if keys:
            out.append(Mismatch("checks", keys=keys))
    return out


def shape_difference(live: TableInfo, entry: TableEntry) -> str | None:
    """Why a live table cannot be rewritten partition by partition to ``entry``, or None."""
    if column_signature(live.columns) != column_signature(entry_columns(entry)):
        return f"table {entry.name} has another schema"
    if live.sql != entry.ddl:
        return f"table {entry.name} has other constraints"
    return None


def schema_objects_differ(live: Iterable[DdlEntry], want: Iterable[DdlEntry]) -> bool:
    """Whether the live schemas, sequences, macros, views and indexes differ from ``want``
    (a manifest's ``ddl[]`` as a restore under the live catalog name creates it:
    :func:`navsnap.materialize.restored_ddl`), order aside."""

    def key(d: DdlEntry) -> tuple[str, str, str, str, bool]:
        return (d.kind, d.schema, d.name, d.sql, d.used)

    return sorted(map(key, live)) != sorted(map(key, want))


def comment_changes(live: Iterable[Comment], want: Iterable[Comment]) -> tuple[str, ...]:
    """The COMMENT ON statements that make the ``live`` comments ``want`` (pure): each wanted
    comment missing or with another text, and ``IS NULL`` for each live comment ``want`` does
    not have. Empty when the comments match."""
    have = {c.target: c for c in live}
    wanted = {c.target: c for c in want}
    out = [
        comment_sql(c)
        for t, c in sorted(wanted.items(), key=repr)
        if t not in have or have[t].text != c.text
    ]
    out += [
        comment_sql(c, clear=True) for t, c in sorted(have.items(), key=repr) if t not in wanted
    ]
    return tuple(out)


def _label(name: CatalogName) -> str:
    kind, schema, obj = name
    return f"{kind} {schema}.{obj}" if schema else f"{kind} {obj}"


def unlisted_objects(
    live: Iterable[CatalogName],
    manifest: Manifest,
    *,
    tables: Collection[str] | None = None,
    allowed: Iterable[CatalogName] = (),
) -> list[Mismatch]:
    """Objects of a restored database's catalog (:func:`navsnap.catalog.catalog_names`) that
    the manifest does not list, and (a full restore) listed ones it lacks (pure).

    A restore contains only what its snapshot lists: a table, view, schema, macro, type,
    sequence or index the manifest does not name, another attached database, or a secret
    is a mismatch. ``tables`` is the restored selection (None: every table, and then what
    the manifest lists must all be there); ``allowed`` are objects that were there before
    (a partial restore in place keeps them, a connection's own secrets).
    """
    chosen = [t for t in manifest.tables if tables is None or t.name in set(tables)]
    listed = {("table", t.schema, t.table) for t in chosen}
    listed |= {(d.kind, d.schema, d.name) for d in manifest.ddl}
    have = set(live)
    extra = sorted(have - listed - set(allowed))
    out = [Mismatch("catalog", detail=f"{_label(n)} is not in the snapshot") for n in extra]
    if tables is None:
        out += [
            Mismatch("catalog", detail=f"{_label(n)} is missing") for n in sorted(listed - have)
        ]
    return out
