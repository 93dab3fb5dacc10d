"""What a year's step must leave behind, and what a new run may start on.

Before (issue 11) a shell step that changed directory and wrote to a relative ``{db}`` left
navsnap's database untouched: navsnap opened it, which created an empty file, snapshotted
0 tables and exited 0. Now:

* :func:`count_rows` counts every table's rows, and the year's rows of the year-scoped ones,
  after each step; :func:`step_result_error` compares that with the counts before it. A step
  that removed a table, emptied one, or wrote no row of its year into any year-scoped table
  fails the year (:class:`~navsnap.errors.StepError`, exit 5) before its snapshot is taken;
* :func:`check_new_run`: a plain ``run`` (not ``--resume``, ``--force-restart`` or
  ``--from-snapshot``) on a database that holds tables of another lineage, or tables the
  store has no snapshot of, is refused with the choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from navsnap.catalog import list_tables, quote_ident
from navsnap.errors import DriftError, SnapshotNotFound, StepError, UsageError
from navsnap.identity import database_name, snapshots_of
from navsnap.lineage import drift, same_lineage
from navsnap.store import Store

__all__ = ["RowCounts", "check_new_run", "count_rows", "step_result_error"]

_CHOICES = "continue it with --resume, start over with --force-restart, or pass another --db"


@dataclass(frozen=True)
class RowCounts:
    """Every table's rows (``total``) and, for year-scoped tables, the rows of one year."""

    total: Mapping[str, int]
    year: Mapping[str, int]


def count_rows(con: duckdb.DuckDBPyConnection, *, year: int, year_column: str) -> RowCounts:
    """Rows of every persistent table, and of ``year`` in each year-scoped table."""
    total: dict[str, int] = {}
    of_year: dict[str, int] = {}
    for t in list_tables(con, year_column=year_column):
        if t.year_column is None:
            row = con.execute(f"SELECT count(*), 0 FROM {t.ref}").fetchone()
        else:
            row = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {quote_ident(t.year_column)} = ?) "
                f"FROM {t.ref}",
                [year],
            ).fetchone()
        total[t.key] = int(row[0]) if row else 0
        if t.year_column is not None:
            of_year[t.key] = int(row[1]) if row else 0
    return RowCounts(total, of_year)


def _names(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def step_result_error(
    year: int,
    before: Mapping[str, int],
    after: RowCounts,
    *,
    db_path: Path,
    year_column: str,
    log_path: Path | None = None,
) -> StepError | None:
    """The error of a year whose step left the database without what it had, or without
    any row of the year (pure: counts in, None when the year may be snapshotted)."""
    where = f"; log: {log_path}" if log_path is not None else ""
    hint = (
        f"the step must write year {year} into {str(db_path.absolute())!r} ({{db}} is that "
        "absolute path); nothing was snapshotted for the year: fix the step, then --resume"
    )
    gone = sorted(k for k in before if k not in after.total)
    if gone:
        return StepError(
            f"year {year}: the step left the database without table(s) it had: "
            f"{_names(gone)}{where}",
            year=year,
            log_path=str(log_path) if log_path else None,
            hint=hint,
        )
    emptied = sorted(k for k, n in before.items() if n > 0 and after.total.get(k) == 0)
    if emptied:
        return StepError(
            f"year {year}: the step emptied table(s) that held rows: {_names(emptied)}{where}",
            year=year,
            log_path=str(log_path) if log_path else None,
            hint=hint,
        )
    if not any(after.year.values()):
        what = (
            f"no year-scoped table (none has the column {year_column!r})"
            if not after.year
            else f"no row of {year} in any year-scoped table ({_names(sorted(after.year))})"
        )
        return StepError(
            f"year {year}: after the step the database holds {what}{where}",
            year=year,
            log_path=str(log_path) if log_path else None,
            hint=hint,
        )
    return None


def check_new_run(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    block: Mapping[str, Any],
    *,
    db_path: Path,
    first: int,
    year_column: str,
) -> None:
    """Refuse a plain run on a database holding tables that are not of this lineage, or
    rows of a year the run is about to build.

    The database's tables belong to this lineage when the newest snapshot of this database
    (same :func:`~navsnap.identity.database_name`) has this configuration. Tables and no
    snapshot of the database: UsageError; another lineage's snapshot: DriftError naming the
    changed keys. This lineage's, holding a row of year ``first`` or later: UsageError (the
    run would build its years on top of them, and its first snapshot would hold later
    years). Each names the choices.
    """
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
        "AND NOT internal AND NOT temporary"
    ).fetchone()
    if not row or not row[0]:
        return
    name = database_name(db_path)
    try:
        store.check_readable()  # a foreign or newer store is refused as such
        # Only snapshots certainly of this database vouch for its tables (navsnap.identity).
        mine = snapshots_of(store.read_manifests()[0], name, strict=False)
    except SnapshotNotFound:  # no store yet
        mine = []
    if not mine:
        raise UsageError(
            f"database {str(db_path)!r} already holds {row[0]} table(s) and {store.url!r} has "
            f"no snapshot of database {name!r}: a new run would mix into them",
            hint=_CHOICES + " (or --from-snapshot YEAR to continue a snapshot)",
        )
    newest = max(mine, key=lambda m: (m.created_at, m.snapshot_id))
    if same_lineage(newest.config, block):
        from navsnap.catalog import list_tables
        from navsnap.manual import newest_year

        held = newest_year(con, list_tables(con, year_column=year_column))
        if held is not None and held >= first:
            raise UsageError(
                f"database {str(db_path)!r} already holds rows of {held} of this run's "
                f"lineage: a new run from {first} would build its years on top of them",
                hint=_CHOICES,
            )
        return
    keys, inputs = drift(newest.config, block)
    changed = [f"{k.key}: {k.old!r} -> {k.new!r}" for k in keys]
    changed += [f"input {i.path} changed" for i in inputs]
    raise DriftError(
        f"database {str(db_path)!r} holds tables of another lineage: its newest snapshot "
        f"{newest.snapshot_id} was taken with another configuration ("
        + ("; ".join(changed) if changed else "hash differs")
        + ")",
        changed_keys=keys,
        changed_inputs=inputs,
        hint=_CHOICES,
    )
