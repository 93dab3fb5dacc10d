"""Which hot-tier copies are live: the latest K year-ends of each database (pure, no I/O).

A manifest's ``hot`` copy is written before the manifest commits, and the manifest is never
changed afterwards. So a copy is released by a *later* committed manifest, not by editing its
own: per database, the manifests that carry a hot copy are ordered newest first (by
``created_at``, then id), and the newest one's ``keep`` (K) says how many of them stay live.
The copies of the others are no longer referenced; prune collects them like any unreferenced
object (with its grace period). A reader that finds a copy gone, or damaged, falls back to the
snapshot's Parquet objects, which every manifest keeps referencing.
"""

from __future__ import annotations

from collections.abc import Iterable

from navsnap.identity import owner_key
from navsnap.manifest import Manifest

__all__ = ["hot_keys", "live_hot_keys", "live_hot_snapshots"]


def live_hot_snapshots(manifests: Iterable[Manifest]) -> frozenset[str]:
    """The ids of the snapshots whose hot copy is live (see the module docstring)."""
    groups: dict[str, list[Manifest]] = {}
    for m in manifests:
        if m.hot is not None:
            groups.setdefault(owner_key(m), []).append(m)
    live: set[str] = set()
    for members in groups.values():
        members.sort(key=lambda m: (m.created_at, m.snapshot_id), reverse=True)
        newest = members[0].hot
        assert newest is not None
        live.update(m.snapshot_id for m in members[: max(newest.keep, 1)])
    return frozenset(live)


def live_hot_keys(manifests: Iterable[Manifest]) -> frozenset[str]:
    """The object keys of the live hot copies among ``manifests``."""
    ms = list(manifests)
    live = live_hot_snapshots(ms)
    return frozenset(m.hot.object.key for m in ms if m.hot is not None and m.snapshot_id in live)


def hot_keys(manifests: Iterable[Manifest]) -> frozenset[str]:
    """The object keys of every hot copy the manifests name, live or released: ``verify``
    does not call a released copy an orphan (a manifest names it; prune removes it)."""
    return frozenset(m.hot.object.key for m in manifests if m.hot is not None)
