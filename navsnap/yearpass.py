"""What a snapshot computes per table: one pass over the snapshot's year, older partitions
re-fingerprinted only when nothing vouches for them.

For each table a snapshot needs every partition's fingerprint (``count(*)`` and
``sum(hash(row))``, :func:`navsnap.catalog.fingerprint_sql`) and, for the tables the step
aggregates, that year's validation aggregates. :func:`table_pass` computes:

* the snapshot year's fingerprint and the table's aggregates in **one scan** of that year's
  rows (:func:`year_scan`);
* the older partitions either by fingerprinting them (one grouped scan of the rest of the
  table), or, when a :class:`Baseline` vouches for them, from the previous snapshot's
  manifest. A baseline is the snapshot the database matched before the step ran, together
  with the step's :class:`~navsnap.steps.YearContract` (it writes only year Y of year-scoped
  tables and the global tables it names). Its partitions are taken only when the table's
  columns are unchanged, the table is not one the step rewrites, and every older partition
  still has the row count the baseline records (a cheap scan of the year column). Anything
  else falls back to fingerprinting. The argument is in ``docs/concepts.md`` (Lean snapshots).

The values are exactly those of a full computation: the same SQL expressions over the same
rows (tests/test_lean.py compares whole manifests).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb

from navsnap.catalog import (
    TableInfo,
    entry_columns,
    fingerprints,
    integer_column,
    partition_filter,
    quote_ident,
    row_alias,
    row_hash_sql,
)
from navsnap.manifest import (
    FINGERPRINT_VERSION,
    GLOBAL,
    NULL_YEAR,
    Fingerprint,
    Manifest,
    PartitionKey,
)
from navsnap.steps import TableAggregates, YearContract

__all__ = [
    "Baseline",
    "TablePass",
    "aggregate_values",
    "partition_fingerprint",
    "table_pass",
    "year_scan",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Baseline:
    """The snapshot the database matched before the step ran, and what the step promised."""

    manifest: Manifest
    contract: YearContract


@dataclass(frozen=True)
class TablePass:
    """One table's partitions' fingerprints and its year's aggregates (None: not asked).

    ``trusted``: the partitions taken from the baseline; ``scanned``: those fingerprinted.
    """

    fingerprints: dict[PartitionKey, Fingerprint]
    aggregates: dict[str, Any] | None
    trusted: frozenset[PartitionKey]
    scanned: frozenset[PartitionKey]


def year_scannable(table: TableInfo) -> bool:
    """Whether ``table``'s snapshot year can be read apart (an integer year column)."""
    if table.year_column is None:
        return False
    return integer_column(table.columns, table.year_column)


def year_scan(
    con: duckdb.DuckDBPyConnection,
    table: TableInfo,
    *,
    year: int,
    exprs: tuple[tuple[str, str], ...] = (),
) -> tuple[Fingerprint | None, dict[str, Any]]:
    """The fingerprint of ``table``'s rows of ``year`` (None: it has none) and ``exprs``
    over the same rows, in one scan."""
    fp, values = _partition_scan(con, table, PartitionKey.of_year(str(year)), exprs)
    return (fp if fp.rows else None), values


def _partition_scan(
    con: duckdb.DuckDBPyConnection,
    table: TableInfo,
    key: PartitionKey,
    exprs: tuple[tuple[str, str], ...] = (),
) -> tuple[Fingerprint, dict[str, Any]]:
    """Partition ``key``'s fingerprint (rows 0 when it has none), as
    :func:`~navsnap.catalog.fingerprints` computes it, and ``exprs`` over its rows."""
    alias = row_alias(table.columns)
    t = quote_ident(alias)
    h = row_hash_sql(table.columns, alias=alias, ddl=table.sql)
    extra = "".join(f", {sql}" for _name, sql in exprs)
    row = con.execute(
        f"SELECT count(*), coalesce(sum({h}), 0)::VARCHAR{extra} "
        f"FROM {table.ref} AS {t}{partition_filter(table, key)}"
    ).fetchone()
    assert row is not None
    values = {name: row[2 + i] for i, (name, _sql) in enumerate(exprs)}
    return Fingerprint(int(row[0]), str(row[1])), values


def aggregate_values(
    con: duckdb.DuckDBPyConnection, agg: TableAggregates, *, ref: str, year: int
) -> dict[str, Any]:
    """``agg``'s expressions over the rows of ``year`` of the relation ``ref`` (a table or
    view), as one query: what :meth:`~navsnap.steps.Step.validation` runs on its own."""
    cols = ", ".join(sql for _name, sql in agg.exprs)
    row = con.execute(
        f"SELECT {cols} FROM {ref} WHERE {quote_ident(agg.year_column)} = $year", {"year": year}
    ).fetchone()
    assert row is not None
    return {name: row[i] for i, (name, _sql) in enumerate(agg.exprs)}


def partition_fingerprint(
    con: duckdb.DuckDBPyConnection, table: TableInfo, key: PartitionKey
) -> Fingerprint:
    """The fingerprint of one partition's rows, as :func:`~navsnap.catalog.fingerprints`
    computes it (rows 0 when it has none)."""
    return _partition_scan(con, table, key)[0]


def year_counts(con: duckdb.DuckDBPyConnection, table: TableInfo) -> dict[PartitionKey, int]:
    """Rows per partition of a year-scoped table (reads the year column only)."""
    assert table.year_column is not None
    yc = quote_ident(table.year_column)
    out: dict[PartitionKey, int] = {}
    for part, n in con.execute(
        f"SELECT {yc}::VARCHAR, count(*) FROM {table.ref} GROUP BY ALL"
    ).fetchall():
        out[NULL_YEAR if part is None else PartitionKey.of_year(str(part))] = int(n)
    return out


def _vouched(table: TableInfo, baseline: Baseline | None) -> dict[PartitionKey, Fingerprint] | None:
    """The baseline's partitions of ``table`` when they may stand for the table's (None:
    no baseline, a table the step rewrites, a new table, or other columns)."""
    if baseline is None or baseline.manifest.fingerprint_version != FINGERPRINT_VERSION:
        return None
    if {table.key, f"{table.schema}.{table.name}"} & baseline.contract.rewrites:
        return None
    entry = next((t for t in baseline.manifest.tables if t.name == table.key), None)
    if entry is None or entry.year_column != table.year_column:
        return None
    if entry_columns(entry) != table.columns or dict(entry.encodings) != table.encodings:
        return None
    return {p.year: p.fingerprint for p in entry.partitions}


def table_pass(
    con: duckdb.DuckDBPyConnection,
    table: TableInfo,
    *,
    year: int,
    baseline: Baseline | None,
    aggregates: TableAggregates | None = None,
) -> TablePass:
    """Every partition's fingerprint of ``table`` (and ``aggregates`` of ``year``) with as
    few scans as the baseline allows; see the module docstring. ``aggregates`` needs
    :func:`year_scannable`."""
    known = _vouched(table, baseline)
    if table.year_column is None:
        if known is not None and GLOBAL in known:
            row = con.execute(f"SELECT count(*) FROM {table.ref}").fetchone()
            if row is not None and int(row[0]) == known[GLOBAL].rows:
                return TablePass({GLOBAL: known[GLOBAL]}, None, frozenset({GLOBAL}), frozenset())
            log.info("%s: row count differs from the baseline; fingerprinting it", table.key)
        found = fingerprints(con, table)
        return TablePass(found, None, frozenset(), frozenset(found))
    if not year_scannable(table) or (known is None and aggregates is None):
        # Nothing to spare: one grouped scan fingerprints every partition.
        found = fingerprints(con, table)
        return TablePass(found, None, frozenset(), frozenset(found))
    this = PartitionKey.of_year(str(year))
    fp, values = year_scan(con, table, year=year, exprs=aggregates.exprs if aggregates else ())
    out: dict[PartitionKey, Fingerprint] = {} if fp is None else {this: fp}
    agg = values if aggregates is not None else None
    if known is not None:
        counts = {k: n for k, n in year_counts(con, table).items() if k != this}
        older = {k: f for k, f in known.items() if k != this}
        if counts == {k: f.rows for k, f in older.items()}:
            out.update(older)
            return TablePass(out, agg, frozenset(older), frozenset(out) - frozenset(older))
        log.info("%s: older years' row counts differ from the baseline; fingerprinting", table.key)
    rest = fingerprints(con, table, exclude=this)
    out.update(rest)
    return TablePass(out, agg, frozenset(), frozenset(out))


def values_by_table(passes: Mapping[str, TablePass]) -> dict[str, dict[str, Any]]:
    """{table: aggregate values} of the passes that computed aggregates."""
    return {k: p.aggregates for k, p in passes.items() if p.aggregates is not None}
