"""Finding snapshots in a store: select by id, tag, run, year or lineage.

Reading manifests and tags is the repository's (:class:`navsnap.store.Store`); the functions
``manifest_ids``, ``load_manifest``, ``read_all`` and ``tags`` here are its short names.
"""

from __future__ import annotations

from collections.abc import Iterable

from navsnap import engine
from navsnap.catalog import column_signature, entry_columns
from navsnap.errors import IntegrityError, SnapshotNotFound
from navsnap.manifest import Fingerprint, Manifest, PartitionKey
from navsnap.store import BrokenManifest, Store

__all__ = ["BrokenManifest", "ReuseIndex", "load_manifest", "read_all", "resolve", "tags"]


def manifest_ids(store: Store) -> list[str]:
    return store.manifest_ids()


def load_manifest(store: Store, snapshot_id: str) -> Manifest:
    return store.load_manifest(snapshot_id)


def read_all(store: Store) -> tuple[list[Manifest], list[BrokenManifest]]:
    """Every manifest, sorted by (created_at, snapshot_id); damaged ones listed apart."""
    return store.read_manifests()


def tags(store: Store, *, strict: bool = False) -> dict[str, str]:
    """Tag name -> snapshot id (see :meth:`Store.tags`)."""
    return store.tags(strict=strict)


def resolve(
    store: Store,
    ref: str | None = None,
    *,
    year: int | None = None,
    run: str | None = None,
    manifests: Iterable[Manifest] | None = None,
) -> Manifest:
    """One snapshot: by id, unique id prefix, tag, or the newest matching ``year``/``run``."""
    if ref is not None:
        ids = manifest_ids(store)
        if ref in ids:
            return load_manifest(store, ref)
        tagged, broken = store.read_tags()
        if ref in tagged:
            return load_manifest(store, tagged[ref])
        for bad in broken:
            if bad.name == ref:  # a damaged tag is named, not reported as missing
                raise IntegrityError(
                    bad.error, path=bad.key, hint="re-create it with 'navsnap tag'"
                )
        matches = [i for i in ids if i.startswith(ref)]
        if len(matches) == 1:
            return load_manifest(store, matches[0])
        if len(matches) > 1:
            raise SnapshotNotFound(
                f"snapshot {ref!r} is ambiguous ({len(matches)} match)",
                hint="give more of the id; see 'navsnap list'",
            )
        raise SnapshotNotFound(
            f"no snapshot or tag {ref!r} in {store.url!r}", hint="see 'navsnap list'"
        )
    pool = list(manifests) if manifests is not None else read_all(store)[0]
    found = [
        m for m in pool if (year is None or m.year == year) and (run is None or m.run_id == run)
    ]
    if not found:
        what = " and ".join(
            s for s in (f"year {year}" if year else "", f"run {run}" if run else "") if s
        )
        raise SnapshotNotFound(
            f"no snapshot for {what or 'this request'} in {store.url!r}",
            hint="see 'navsnap list'",
        )
    return max(found, key=lambda m: (m.created_at, m.snapshot_id))


#: (table, partition, column signature, fingerprint)
ReuseKey = tuple[str, PartitionKey, str, Fingerprint]


class ReuseIndex:
    """Partitions already in the store, by (table, year, columns, fingerprint).

    A partition whose rows fingerprint the same as a stored one is not exported again: the
    new manifest points at the existing object.
    """

    def __init__(self) -> None:
        self._by_key: dict[ReuseKey, tuple[str, str, int]] = {}

    @staticmethod
    def key(table: str, year: PartitionKey, columns: str, fingerprint: Fingerprint) -> ReuseKey:
        return (table, year, columns, fingerprint)

    def add_manifest(self, manifest: Manifest) -> None:
        # Only objects written by this very release are reused: fingerprints compare only
        # within a hash family, and an object must stay readable by the DuckDB that restores.
        if manifest.mode != "parquet" or manifest.duckdb_version != engine.VERSION:
            return
        for t in manifest.tables:
            sig = column_signature(entry_columns(t), dict(t.encodings))
            for p in t.partitions:
                self._by_key[self.key(t.name, p.year, sig, p.fingerprint)] = (
                    p.object.key,
                    p.object.xxh3,
                    p.object.size,
                )

    def get(self, key: ReuseKey) -> tuple[str, str, int] | None:
        return self._by_key.get(key)

    @classmethod
    def from_store(cls, store: Store) -> ReuseIndex:
        idx = cls()
        for m in read_all(store)[0]:
            idx.add_manifest(m)
        return idx
