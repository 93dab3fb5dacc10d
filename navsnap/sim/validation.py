"""Validation aggregates of one simulated year, for the snapshot manifest.

Everything is computed by SQL over plainly named tables, so the same function works on the
live database and on a restored copy. DECIMAL sums are exact and returned as strings; counts
are ints; the event distribution is a dict sorted by event type. The result is deterministic
and JSON-serialisable.
"""

from __future__ import annotations

import duckdb

__all__ = ["validation_aggregates"]

_SNAPSHOT = """
SELECT count(*) FILTER (WHERE employment_status = 'active'),
       count(*),
       coalesce(sum(total_compensation), 0)::VARCHAR,
       coalesce(sum(prorated_annual_compensation), 0)::VARCHAR,
       (count(*) - count(DISTINCT employee_id))::BIGINT
FROM fct_workforce_snapshot
WHERE simulation_year = $year
"""
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
_CONTRIBUTIONS = """
SELECT count(*),
       coalesce(sum(annual_contribution_amount), 0)::VARCHAR,
       coalesce(sum(employer_match_amount), 0)::VARCHAR,
       coalesce(sum(employer_core_amount), 0)::VARCHAR,
       count(*) FILTER (WHERE irs_limit_reached)
FROM int_employee_contributions
WHERE simulation_year = $year
"""


def validation_aggregates(con: duckdb.DuckDBPyConnection, *, year: int) -> dict[str, object]:
    """Counts, exact sums and distributions of ``year``'s rows (zeros when there are none)."""
    args = {"year": year}
    snap = con.execute(_SNAPSHOT, args).fetchone()
    contrib = con.execute(_CONTRIBUTIONS, args).fetchone()
    dup = con.execute(_DUPLICATES, args).fetchone()
    assert snap is not None and contrib is not None and dup is not None
    events = {str(kind): int(n) for kind, n in con.execute(_EVENTS, args).fetchall()}
    return {
        "simulation_year": year,
        "workforce_count": int(snap[0]),
        "snapshot_rows": int(snap[1]),
        "total_compensation": str(snap[2]),
        "total_prorated_compensation": str(snap[3]),
        "duplicate_snapshot_rows": int(snap[4]),
        "event_type_distribution": events,
        "event_count": sum(events.values()),
        "duplicate_event_count": int(dup[0]),
        "contribution_rows": int(contrib[0]),
        "total_employee_contributions": str(contrib[1]),
        "total_employer_match": str(contrib[2]),
        "total_employer_core": str(contrib[3]),
        "irs_limit_reached_count": int(contrib[4]),
    }
