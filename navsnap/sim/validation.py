"""Validation aggregates of one simulated year, for the snapshot manifest.

Everything is computed by SQL over plainly named tables, so the same function works on the
live database and on a restored copy. DECIMAL sums are exact and returned as strings; counts
are ints; the event distribution is a dict sorted by event type. The result is deterministic
and JSON-serialisable.

The aggregates are declared per table (:data:`YEAR_AGGREGATES`), so a snapshot computes each
table's in the same scan as the year's fingerprint (:mod:`navsnap.yearpass`);
:func:`assemble` turns them into the manifest's values. Duplicate snapshot rows are
``count(*) - count(DISTINCT employee_id)``, counted with a bitmap of the year's employee ids
(``bitstring_agg`` between their min and max, which the year's scan finds): the same number,
without the hash table a ``DISTINCT`` builds. Duplicate events (rows sharing employee, year,
type and date) are first screened per event type: two rows sharing their key share their
employee and type, so when every type has as many distinct employees (bits) as rows, there are
none. Only otherwise does the exact grouping query run. Ids spread wider than
:data:`BITMAP_RANGE`, or of a type ``bitstring_agg`` does not take (a user's schema may make
them BOOLEAN, HUGEINT, VARCHAR...: only :data:`BITMAP_TYPES` are counted by bitmap, as the
year's scan reports the column's type), take the ``DISTINCT`` queries instead
(``count(DISTINCT hash(key))`` as the events' screen).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb

from navsnap.steps import TableAggregates

__all__ = ["YEAR_AGGREGATES", "assemble", "validation_aggregates"]

_YEAR = "simulation_year"

YEAR_AGGREGATES = (
    TableAggregates(
        "fct_workforce_snapshot",
        _YEAR,
        (
            ("active", "count(*) FILTER (WHERE employment_status = 'active')"),
            ("rows", "count(*)"),
            ("compensation", "coalesce(sum(total_compensation), 0)::VARCHAR"),
            ("prorated", "coalesce(sum(prorated_annual_compensation), 0)::VARCHAR"),
            # The bitmap's bounds for the duplicate count (see assemble).
            ("id_min", "min(employee_id)"),
            ("id_max", "max(employee_id)"),
            ("id_type", "typeof(min(employee_id))"),
        ),
    ),
    TableAggregates(
        "fct_yearly_events",
        _YEAR,
        (
            ("rows", "count(*)"),
            ("typed", "count(event_type)"),
            # As a list of {key, value} structs: DuckDB 1.0's Python API returns a MAP as
            # {"key": [...], "value": [...]}, later releases as a dict.
            ("by_type", "map_entries(histogram(event_type))"),
            # The bitmap's bounds for the duplicate screen (see assemble).
            ("id_min", "min(employee_id)"),
            ("id_max", "max(employee_id)"),
            ("id_type", "typeof(min(employee_id))"),
        ),
    ),
    TableAggregates(
        "int_employee_contributions",
        _YEAR,
        (
            ("rows", "count(*)"),
            ("employee", "coalesce(sum(annual_contribution_amount), 0)::VARCHAR"),
            ("match", "coalesce(sum(employer_match_amount), 0)::VARCHAR"),
            ("core", "coalesce(sum(employer_core_amount), 0)::VARCHAR"),
            ("irs_limit", "count(*) FILTER (WHERE irs_limit_reached)"),
        ),
    ),
)

_EVENTS = """
SELECT event_type, count(*)
FROM fct_yearly_events
WHERE simulation_year = $year
GROUP BY event_type
ORDER BY event_type
"""
#: The widest span of employee ids (max - min + 1) counted with a bitmap: 2**25 bits, 4 MiB
#: per aggregate state; wider spans take the DISTINCT queries.
BITMAP_RANGE = 1 << 25
#: The employee id types counted with a bitmap: those ``bitstring_agg`` takes on every
#: supported DuckDB (1.0 refuses HUGEINT and UHUGEINT, 2.x BOOLEAN and UHUGEINT). A Python
#: bool is an int, so the ids' values alone cannot tell.
BITMAP_TYPES = frozenset(
    ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
)
# Duplicate snapshot rows: rows minus distinct employee ids (NULLs count as rows, not ids).
_SNAPSHOT_DUPLICATES_BITMAP = """
SELECT (count(*) - coalesce(bit_count(bitstring_agg(employee_id, $lo, $hi)), 0))::BIGINT
FROM fct_workforce_snapshot
WHERE simulation_year = $year
"""
_SNAPSHOT_DUPLICATES = """
SELECT (count(*) - count(DISTINCT employee_id))::BIGINT
FROM fct_workforce_snapshot
WHERE simulation_year = $year
"""
# Screens for duplicate events, zero proving there are none: rows sharing their key share
# their event type and employee, so some type then has more rows than distinct employees
# (or than distinct key hashes).
_EVENT_SCREEN_BITMAP = """
SELECT coalesce(max(n - d), 0)::BIGINT
FROM (
    SELECT count(*) AS n, coalesce(bit_count(bitstring_agg(employee_id, $lo, $hi)), 0) AS d
    FROM fct_yearly_events
    WHERE simulation_year = $year
    GROUP BY event_type
)
"""
_EVENT_SCREEN = """
SELECT (count(*) - count(DISTINCT hash(employee_id, simulation_year, event_type,
    effective_date)))::BIGINT
FROM fct_yearly_events
WHERE simulation_year = $year
"""
# Surplus rows among events that share their natural key.
_DUPLICATES = """
SELECT coalesce(sum(n - 1), 0)::BIGINT
FROM (
    SELECT count(*) AS n
    FROM fct_yearly_events
    WHERE simulation_year = $year
    GROUP BY employee_id, simulation_year, event_type, effective_date
    HAVING count(*) > 1
)
"""


def assemble(
    con: duckdb.DuckDBPyConnection, *, year: int, values: Mapping[str, Mapping[str, Any]]
) -> dict[str, object]:
    """The manifest's aggregates from :data:`YEAR_AGGREGATES`' values ({table: {name: v}});
    the exact grouping queries run only where the cheap values say they matter."""
    snap = values["fct_workforce_snapshot"]
    ev = values["fct_yearly_events"]
    contrib = values["int_employee_contributions"]
    args = {"year": year}
    if int(ev["typed"]) == int(ev["rows"]):
        pairs = ((e["key"], e["value"]) for e in ev["by_type"] or [])
        events = {str(k): int(n) for k, n in sorted(pairs)}
    else:  # NULL event types: histogram() leaves them out, the grouping keeps them
        events = {str(k): int(n) for k, n in con.execute(_EVENTS, args).fetchall()}
    surplus = 0
    screen = _by_bitmap(ev, _EVENT_SCREEN_BITMAP, _EVENT_SCREEN)
    if int(ev["rows"]) and _scalar(con, screen, args, ev):
        surplus = _scalar(con, _DUPLICATES, args, ev)
    duplicates = 0
    if int(snap["rows"]):
        sql = _by_bitmap(snap, _SNAPSHOT_DUPLICATES_BITMAP, _SNAPSHOT_DUPLICATES)
        duplicates = _scalar(con, sql, args, snap)
    return {
        "simulation_year": year,
        "workforce_count": int(snap["active"]),
        "snapshot_rows": int(snap["rows"]),
        "total_compensation": str(snap["compensation"]),
        "total_prorated_compensation": str(snap["prorated"]),
        "duplicate_snapshot_rows": duplicates,
        "event_type_distribution": events,
        "event_count": sum(events.values()),
        "duplicate_event_count": surplus,
        "contribution_rows": int(contrib["rows"]),
        "total_employee_contributions": str(contrib["employee"]),
        "total_employer_match": str(contrib["match"]),
        "total_employer_core": str(contrib["core"]),
        "irs_limit_reached_count": int(contrib["irs_limit"]),
    }


def _by_bitmap(values: Mapping[str, Any], bitmap: str, other: str) -> str:
    """``bitmap`` when the employee ids the year's scan found are of a :data:`BITMAP_TYPES`
    type and span at most :data:`BITMAP_RANGE`, else ``other``."""
    lo, hi = values["id_min"], values["id_max"]
    if values["id_type"] not in BITMAP_TYPES:
        return other
    if isinstance(lo, int) and isinstance(hi, int) and hi - lo < BITMAP_RANGE:
        return bitmap
    return other


def _scalar(
    con: duckdb.DuckDBPyConnection, sql: str, args: dict[str, int], values: Mapping[str, Any]
) -> int:
    """The BIGINT ``sql`` returns (``$lo``/``$hi``: the ids' bounds in ``values``)."""
    if "$lo" in sql:
        args = {**args, "lo": values["id_min"], "hi": values["id_max"]}
    row = con.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def validation_aggregates(con: duckdb.DuckDBPyConnection, *, year: int) -> dict[str, object]:
    """Counts, exact sums and distributions of ``year``'s rows (zeros when there are none)."""
    from navsnap.catalog import quote_ident
    from navsnap.yearpass import aggregate_values

    values = {
        agg.table: aggregate_values(con, agg, ref=quote_ident(agg.table), year=year)
        for agg in YEAR_AGGREGATES
    }
    return assemble(con, year=year, values=values)
