"""When a snapshot is damaged: which older one to use instead, and saying so.

Used to turn an :class:`~navsnap.errors.IntegrityError` into an actionable message (the
hint names the newest older intact snapshot of the same lineage), and to say that a request
by year found nothing because the matching manifest is damaged.
"""

from __future__ import annotations

from navsnap.errors import IntegrityError
from navsnap.identity import owner_key
from navsnap.index import read_all
from navsnap.integrity import verify_objects
from navsnap.manifest import Manifest
from navsnap.store import Store, layout

__all__ = ["damaged_manifest_error", "newest_intact_before", "with_fallback_hint"]


def newest_intact_before(
    store: Store, snapshot_id: str, manifest: Manifest | None = None
) -> Manifest | None:
    """The newest snapshot older than ``snapshot_id``, of its database and lineage, intact.

    Lineage: the configuration hash of ``manifest`` (when its manifest is readable) or of the
    readable snapshots of the same run. Intact: its manifest reads and every object it
    references has the recorded size and xxh3-128. None when there is no such snapshot.
    """
    manifests, _broken = read_all(store)
    run_id, _, year_text = snapshot_id.rpartition("-")
    if manifest is not None:
        lineage = {manifest.config_hash}
        databases = {owner_key(manifest)}
    else:
        lineage = {m.config_hash for m in manifests if m.run_id == run_id}
        databases = {owner_key(m) for m in manifests if m.run_id == run_id}

    def older(m: Manifest) -> bool:
        if manifest is not None:
            return (m.created_at, m.snapshot_id) < (manifest.created_at, manifest.snapshot_id)
        if m.run_id == run_id:
            return year_text.isdigit() and m.year < int(year_text)
        return m.run_id < run_id  # run ids begin with their UTC start time

    candidates = [
        m
        for m in manifests
        if m.snapshot_id != snapshot_id
        and m.config_hash in lineage
        and owner_key(m) in databases  # never another database's (navsnap.identity)
        and older(m)
    ]
    for m in sorted(candidates, key=lambda m: (m.created_at, m.snapshot_id), reverse=True):
        try:
            verify_objects(store, m, m.objects())
        except IntegrityError:
            continue
        return m
    return None


def with_fallback_hint(
    store: Store, exc: IntegrityError, manifest: Manifest | None = None
) -> IntegrityError:
    """``exc`` with a hint naming the newest older intact snapshot of the same lineage."""
    if exc.snapshot_id is None:
        return exc
    good = newest_intact_before(store, exc.snapshot_id, manifest)
    if good is None:
        exc.hint = (
            f"no older intact snapshot of the lineage of {exc.snapshot_id}; "
            "'navsnap verify --all' lists the damage"
        )
    else:
        exc.hint = (
            f"the newest older intact snapshot is {good.snapshot_id} (end of {good.year}): "
            f"navsnap restore {good.snapshot_id}"
        )
    return exc


def damaged_manifest_error(store: Store, year: int, run: str | None) -> IntegrityError | None:
    """When a request by year (and run) finds nothing because the newest matching manifest
    is damaged, the error to say so (instead of 'no snapshot')."""
    _good, broken = read_all(store)
    hits = [
        b
        for b in broken
        if b.snapshot_id.endswith(f"-{year}") and (run is None or b.snapshot_id == f"{run}-{year}")
    ]
    if not hits:
        return None
    bad = max(hits, key=lambda b: b.snapshot_id)
    return IntegrityError(
        f"the manifest of snapshot {bad.snapshot_id} is damaged: {bad.error}",
        path=layout.manifest_key(bad.snapshot_id),
        snapshot_id=bad.snapshot_id,
    )
