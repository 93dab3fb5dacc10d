"""Restore, step 2: fetch. Every object the plan reads, verified before anything changes.

On a local store the objects are hashed in place; on a remote store they are downloaded in
parallel into the local object cache, each verified as it arrives, and the build reads the
cached files.
"""

from __future__ import annotations

from navsnap.integrity import ProgressFn, fetch_verified
from navsnap.manifest import Manifest
from navsnap.restore.plan import RestorePlan
from navsnap.store import Store

__all__ = ["fetch"]


def fetch(
    store: Store, manifest: Manifest, plan: RestorePlan, *, progress: ProgressFn | None = None
) -> None:
    """Make every object ``plan`` loads available locally, checked against its hash."""
    fetch_verified(store, manifest, plan.objects(manifest), progress=progress)
