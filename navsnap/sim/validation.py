"""Validation aggregates of one simulated year, for the snapshot manifest.

Everything is computed by SQL over plainly named tables, so the same function works on the
live database and on a restored copy. DECIMAL sums are exact and returned as strings; counts
are ints; the event distribution is a dict sorted by event type. The result is deterministic
and JSON-serialisable.

The aggregates are declared per table (:data:`YEAR_AGGREGATES`), so a snapshot computes each
table's in the same scan as the year's fingerprint (:mod:`navsnap.yearpass`);
:func:`assemble` turns them into the manifest's values. Duplicate snapshot rows are
``count(*) - count(DISTINCT employee_id)``. Duplicate events are first bounded cheaply by
``count(*) - count(DISTINCT hash(key))``: rows sharing their key share its hash, so a zero
proves there are none; only otherwise (duplicates, or a hash collision) does the exact
grouping query run.
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
            ("duplicates", "(count(*) - count(DISTINCT employee_id))::BIGINT"),
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
            # A filter, not the value: rows sharing their key share its hash, so zero
            # means no duplicates; anything else (or a collision) runs the exact query.
            (
                "surplus",
                "(count(*) - count(DISTINCT hash(employee_id, simulation_year, event_type, "
                "effective_date)))::BIGINT",
            ),
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
    surplus = int(ev["surplus"])
    if surplus:
        row = con.execute(_DUPLICATES, args).fetchone()
        assert row is not None
        surplus = int(row[0])
    return {
        "simulation_year": year,
        "workforce_count": int(snap["active"]),
        "snapshot_rows": int(snap["rows"]),
        "total_compensation": str(snap["compensation"]),
        "total_prorated_compensation": str(snap["prorated"]),
        "duplicate_snapshot_rows": int(snap["duplicates"]),
        "event_type_distribution": events,
        "event_count": sum(events.values()),
        "duplicate_event_count": surplus,
        "contribution_rows": int(contrib["rows"]),
        "total_employee_contributions": str(contrib["employee"]),
        "total_employer_match": str(contrib["match"]),
        "total_employer_core": str(contrib["core"]),
        "irs_limit_reached_count": int(contrib["irs_limit"]),
    }


def validation_aggregates(con: duckdb.DuckDBPyConnection, *, year: int) -> dict[str, object]:
    """Counts, exact sums and distributions of ``year``'s rows (zeros when there are none)."""
    from navsnap.catalog import quote_ident
    from navsnap.yearpass import aggregate_values

    values = {
        agg.table: aggregate_values(con, agg, ref=quote_ident(agg.table), year=year)
        for agg in YEAR_AGGREGATES
    }
    return assemble(con, year=year, values=values)
