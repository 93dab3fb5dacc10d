"""Restore, step 6: the stat record. A restore that has committed says so in the stat cache
beside the database (:mod:`navsnap.statcache`), so the first ``status`` afterwards needs no
scan. Right before it begins to change the target (the swap, the delta's rewrite), it
removes the record that was there: a restore that fails or is killed from then on leaves
none, and one that fails before leaves the database and its record as they were.

The record says "this file, with this identity, is snapshot X". It is written only from what
the restore itself proved (``docs/concepts.md``, *Status and the stat cache*), and never by
opening the database again: the year it holds is the one the manifest says, for a database
that is exactly that snapshot (:func:`held_year`).

* a **full** restore built a new file, fingerprinted every partition of every table against
  the manifest (against its Parquet under another engine), checked the catalog and comments,
  CHECKPOINTed, closed and fsynced it: its identity then is the one recorded, once renamed
  into place (:meth:`~navsnap.statcache.FileIdentity.still`);
* a **delta** restore planned on the connection it committed on (one transaction: the kept
  partitions fingerprinted, the rewritten ones checked, the catalog checked, then COMMIT,
  under DuckDB's exclusive lock) is recorded after that connection closed, as a run is. A
  delta carried out from a plan made on an earlier opening (``run --resume``) is not: its
  kept partitions were fingerprinted on a file that something may have written between the
  two openings;
* a **hot** restore is not recorded: its checks (the copy's xxh3-128, its catalog and row
  counts) prove that the file is the bytes the snapshot's writer copied, not that its rows
  fingerprint as the manifest says (a lean snapshot's older partitions were never
  fingerprinted from that file, and this process fingerprinted none);
* a whole-file snapshot, ``--tables`` and ``--to`` are not recorded.

Writing the record never fails a restore: anything that goes wrong is logged.
"""

from __future__ import annotations

import logging
from pathlib import Path

from navsnap import statcache
from navsnap.catalog import INTEGER_TYPES
from navsnap.manifest import Manifest, PartitionKind

__all__ = ["UNKNOWN", "forget", "held_year", "record"]

log = logging.getLogger(__name__)

#: :func:`held_year`'s answer when the manifest alone cannot say it.
UNKNOWN = "unknown"


def held_year(manifest: Manifest) -> int | str | None:
    """The year ``status`` reads from a database that is exactly ``manifest`` (the newest
    value of the year column in any table that has it, None when no row has one), or
    :data:`UNKNOWN` when the manifest cannot say it exactly: a year column of a type other
    than an integer (its newest value is not its newest year text), or a partition whose
    year text is not an integer."""
    years: list[int] = []
    for entry in manifest.tables:
        if entry.year_column is None:
            continue
        types = [t for name, t, _ in entry.columns if name == entry.year_column]
        if entry.year_column != manifest.year_column or len(types) != 1:
            return UNKNOWN
        if types[0].upper() not in INTEGER_TYPES:
            return UNKNOWN
        for part in entry.partitions:
            if part.year.kind is not PartitionKind.YEAR or part.rows == 0:
                continue
            try:
                years.append(int(part.year.year))
            except ValueError:
                return UNKNOWN
    return max(years) if years else None


def forget(target: Path) -> None:
    """Remove the record beside ``target`` right before a restore begins to change it: a
    restore that fails or is killed from then on leaves none."""
    try:
        statcache.cache_path(target).unlink(missing_ok=True)
    except OSError as exc:
        log.warning("%s: stat record not removed: %s", statcache.cache_path(target), exc)


def record(
    target: Path, manifest: Manifest, *, checked: statcache.FileIdentity | None = None
) -> bool:
    """Record that ``target`` is exactly ``manifest``, for a restore that has just committed
    and checked it, closed every connection to it and still holds navsnap's database lock.
    ``checked``: the identity of the file its checks read, when it was then renamed into
    place. Whether a record was written; never raises for a record it could not write."""
    year = held_year(manifest)
    if manifest.mode != "parquet" or isinstance(year, str):
        log.debug("%s: no stat record: the manifest does not say the year", target)
        return False
    held: int | None = year
    try:
        done = statcache.record_written(
            target,
            manifest,
            engine=statcache.engine_key(),
            year_column=manifest.year_column,
            year=lambda: held,
            checked=checked,
        )
    except (OSError, ValueError) as exc:
        log.warning("%s: stat record not written: %s", statcache.cache_path(target), exc)
        return False
    if not done:
        log.debug("%s: no stat record: the file may have changed", target)
    return done
