"""A store at a glance: per database, its runs and snapshots, the newest year, the bytes its
snapshots take stored once (deduplicated) and would take stored apart, the bytes of its live
hot-tier copies per year, and the last verify.

Built on what ``list`` reads (the manifests, the tags) and on verify's advisory record of
what it last found intact or damaged (:mod:`navsnap.verify`). Nothing is hashed or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from navsnap.hotwindow import live_hot_snapshots
from navsnap.identity import owner_key
from navsnap.index import read_all
from navsnap.manifest import Manifest
from navsnap.store import Store

__all__ = ["DatabaseInfo", "RunInfo", "StoreInfo", "store_info"]


@dataclass(frozen=True)
class RunInfo:
    """One run of a database: its snapshots' years and when it started."""

    run_id: str
    first_year: int
    last_year: int
    snapshots: int
    created_at: str


@dataclass(frozen=True)
class DatabaseInfo:
    """The snapshots of one database (:func:`navsnap.identity.owner_key`)."""

    database: str
    runs: tuple[RunInfo, ...]
    snapshots: int
    newest_year: int
    newest_snapshot_id: str
    #: Bytes of the objects its snapshots reference, each object counted once.
    stored_bytes: int
    #: Bytes its snapshots would take if each stored all of its objects itself.
    logical_bytes: int
    #: The newest time a verify found one of its snapshots intact (None: never).
    last_verified_at: str | None
    #: Snapshots whose last verify found damage.
    damaged: tuple[str, ...]
    #: The hot tier: (year, bytes) of each live whole-file copy, by year (newest last).
    hot: tuple[tuple[int, int], ...] = ()

    @property
    def hot_bytes(self) -> int:
        return sum(b for _, b in self.hot)

    @property
    def dedup_ratio(self) -> float:
        return round(self.logical_bytes / self.stored_bytes, 2) if self.stored_bytes else 1.0


@dataclass(frozen=True)
class StoreInfo:
    store: str
    databases: tuple[DatabaseInfo, ...]
    snapshots: int
    stored_bytes: int
    logical_bytes: int
    #: Manifests that could not be read (one line each, as ``list`` reports them).
    damaged_manifests: tuple[str, ...]

    @property
    def dedup_ratio(self) -> float:
        return round(self.logical_bytes / self.stored_bytes, 2) if self.stored_bytes else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "snapshots": self.snapshots,
            "stored_bytes": self.stored_bytes,
            "logical_bytes": self.logical_bytes,
            "dedup_ratio": self.dedup_ratio,
            "damaged_manifests": list(self.damaged_manifests),
            "databases": [
                {
                    "database": d.database,
                    "snapshots": d.snapshots,
                    "newest_year": d.newest_year,
                    "newest_snapshot_id": d.newest_snapshot_id,
                    "stored_bytes": d.stored_bytes,
                    "logical_bytes": d.logical_bytes,
                    "dedup_ratio": d.dedup_ratio,
                    "last_verified_at": d.last_verified_at,
                    "damaged": list(d.damaged),
                    "hot_bytes": d.hot_bytes,
                    "hot": [{"year": y, "bytes": b} for y, b in d.hot],
                    "runs": [r.__dict__ for r in d.runs],
                }
                for d in self.databases
            ],
        }


def _unique_bytes(manifests: list[Manifest]) -> int:
    return sum({o.key: o.size for m in manifests for o in m.objects()}.values())


def _database(
    name: str,
    manifests: list[Manifest],
    verified: dict[str, str],
    damaged: dict[str, str],
    hot: frozenset[str],
) -> DatabaseInfo:
    by_run: dict[str, list[Manifest]] = {}
    for m in manifests:
        by_run.setdefault(m.run_id, []).append(m)
    runs = tuple(
        RunInfo(
            run_id=run_id,
            first_year=min(m.year for m in ms),
            last_year=max(m.year for m in ms),
            snapshots=len(ms),
            created_at=min(m.created_at for m in ms),
        )
        for run_id, ms in sorted(by_run.items(), key=lambda kv: min(m.created_at for m in kv[1]))
    )
    newest = max(manifests, key=lambda m: (m.year, m.created_at, m.snapshot_id))
    times = [verified[m.snapshot_id] for m in manifests if m.snapshot_id in verified]
    return DatabaseInfo(
        database=name,
        runs=runs,
        snapshots=len(manifests),
        newest_year=newest.year,
        newest_snapshot_id=newest.snapshot_id,
        stored_bytes=_unique_bytes(manifests),
        logical_bytes=sum(m.total_bytes for m in manifests),
        last_verified_at=max(times) if times else None,
        damaged=tuple(m.snapshot_id for m in manifests if m.snapshot_id in damaged),
        hot=tuple(sorted((m.year, m.hot_bytes) for m in manifests if m.snapshot_id in hot)),
    )


def store_info(store: Store) -> StoreInfo:
    """Summarize ``store`` per database (read-only)."""
    from navsnap.verify import last_damaged, last_verified

    store.check_readable()
    manifests, broken = read_all(store)
    verified = last_verified(store)
    damaged = last_damaged(store)
    hot = live_hot_snapshots(manifests)
    by_db: dict[str, list[Manifest]] = {}
    for m in manifests:
        by_db.setdefault(owner_key(m), []).append(m)
    return StoreInfo(
        store=store.url,
        databases=tuple(
            _database(name, ms, verified, damaged, hot) for name, ms in sorted(by_db.items())
        ),
        snapshots=len(manifests),
        stored_bytes=_unique_bytes(manifests),
        logical_bytes=sum(m.total_bytes for m in manifests),
        damaged_manifests=tuple(f"{b.snapshot_id}: {b.error}" for b in broken),
    )
