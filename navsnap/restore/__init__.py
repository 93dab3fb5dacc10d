"""Restore: bring a database back to a snapshot, from the store alone.

A pipeline of steps, one module each:

1. **plan** (:mod:`~navsnap.restore.plan`) — full, delta, file or none, changing nothing.
   *Full* rebuilds the database from the store alone (the old file may be missing, truncated
   or garbage); *delta*, when the live database opens and its schema matches, rewrites only
   the partitions whose fingerprint differs and deletes partitions the snapshot does not have.
2. **fetch** (:mod:`~navsnap.restore.fetch`) — every object the plan reads is verified
   (xxh3-128 and size) before anything is changed.
3. **build** (:mod:`~navsnap.restore.build`) — a new file beside the target
   (:mod:`navsnap.materialize`), or the delta in one transaction.
4. **check** (:mod:`~navsnap.restore.check`) — row counts, fingerprints and validation
   aggregates against the manifest (:mod:`navsnap.compare`), before the swap or the commit.
5. **swap** (:func:`navsnap.dbfile.swap_into_place`) — the old file and its ``.wal`` are kept
   aside under a name that says when and why, and the new file is renamed into place.
6. **record** (:mod:`~navsnap.restore.record`) — the stat record beside the database is
   removed right before the swap or the delta's rewrite; once a full restore, or a delta
   planned on the connection it commits on, has committed every table in place, it says
   which snapshot the file is.

:func:`restore` (:mod:`~navsnap.restore.pipeline`) runs them; a delta that fails falls back
to a full restore.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from navsnap.restore.actions import PartitionAction, RestorePlan
    from navsnap.restore.pipeline import RestoreReport, restore
    from navsnap.restore.plan import plan_restore

__all__ = ["PartitionAction", "RestorePlan", "RestoreReport", "plan_restore", "restore"]

#: Each name and the step module that defines it, imported when first used: ``status``
#: needs the plan's types, not the pipeline's.
_MODULES = {
    "PartitionAction": "actions",
    "RestorePlan": "actions",
    "plan_restore": "plan",
    "RestoreReport": "pipeline",
    "restore": "pipeline",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
