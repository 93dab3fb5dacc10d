"""Finding snapshots in a store: select by id, tag, run, year or ``latest`` (per database).

Reading manifests and tags is the repository's (:class:`navsnap.store.Store`); the functions
``manifest_ids``, ``load_manifest``, ``read_all`` and ``tags`` here are its short names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from navsnap.errors import IntegrityError, SnapshotNotFound, UsageError
from navsnap.identity import ambiguous, owner_key, snapshots_of, undecided_of
from navsnap.manifest import FINGERPRINT_VERSION, Fingerprint, Manifest, PartitionKey
from navsnap.store import BrokenManifest, Store, layout

__all__ = [
    "LATEST",
    "BrokenManifest",
    "ReuseIndex",
    "load_manifest",
    "parse_ref",
    "read_all",
    "resolve",
    "tags",
]

#: The reference that means "this database's newest snapshot" (``latest@2027``: of 2027).
LATEST = "latest"


def manifest_ids(store: Store) -> list[str]:
    return store.manifest_ids()


def load_manifest(store: Store, snapshot_id: str) -> Manifest:
    return store.load_manifest(snapshot_id)


def read_all(store: Store, *, sql: bool = True) -> tuple[list[Manifest], list[BrokenManifest]]:
    """Every manifest, sorted by (created_at, snapshot_id); damaged ones listed apart. ``sql``
    False leaves the parse of their SQL to :meth:`Manifest.sql_checked` (a reader that
    neither executes nor shows it)."""
    return store.read_manifests(sql=sql)


def tags(store: Store, *, strict: bool = False) -> dict[str, str]:
    """Tag name -> snapshot id (see :meth:`Store.tags`)."""
    return store.tags(strict=strict)


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``NAME@YEAR`` -> (NAME, YEAR); anything else -> (ref, None). ``@2027`` means
    ``latest@2027``."""
    name, sep, year_text = ref.rpartition("@")
    if not sep:
        return ref, None
    if not year_text.isdigit():
        raise UsageError(
            f"snapshot reference {ref!r} does not end in @YEAR",
            hint="write it like latest@2027 or <run id>@2027",
        )
    return name or LATEST, int(year_text)


def resolve(
    store: Store,
    ref: str | None = None,
    *,
    year: int | None = None,
    run: str | None = None,
    database: str | None = None,
    manifests: Iterable[Manifest] | None = None,
) -> Manifest:
    """One snapshot.

    ``ref`` names it explicitly: an id, a unique id prefix, a tag, or a run id (or unique run
    id prefix) with ``year`` (or as ``RUN@YEAR``); explicit names may be of any database.
    ``latest`` and ``latest@YEAR`` (and no ``ref``: the newest matching ``year``/``run``) select
    among ``database``'s snapshots only (:mod:`navsnap.identity`), when ``database`` is given.
    """
    if ref is not None:
        name, at = parse_ref(ref)
        if at is not None and year is not None and at != year:
            raise UsageError(
                f"snapshot reference {ref!r} and --year {year} disagree", hint="give one of them"
            )
        year = at if at is not None else year
        if name != LATEST:
            named = _by_name(store, name, year=year, database=database)
            if year is not None and named.year != year:
                # A tag, an id or an id prefix names one snapshot: its year must be the one
                # asked for (``good@2025``, ``--year 2025``), never silently another.
                raise UsageError(
                    f"snapshot {named.snapshot_id} is of year {named.year}, not {year}",
                    hint="drop the year or pick another snapshot",
                )
            return named
    pool = list(manifests) if manifests is not None else read_all(store)[0]
    scoped = snapshots_of(pool, database, strict=False) if database is not None else pool
    runs = _runs_matching(scoped, run) if run is not None else None
    found = [
        m for m in scoped if (year is None or m.year == year) and (runs is None or m.run_id in runs)
    ]
    best = max(found, key=_newest, default=None)
    if database is not None:
        # An old snapshot that may be this database's and would be chosen over ``best``:
        # refuse rather than guess (navsnap.identity).
        for m in undecided_of(pool, database):
            if (
                (year is None or m.year == year)
                and (run is None or m.run_id.startswith(run))
                and (best is None or _newest(m) > _newest(best))
            ):
                raise ambiguous(m, database)
    if best is None:
        raise _not_found(store, pool, year=year, run=run, database=database)
    return best


def _newest(m: Manifest) -> tuple[str, str]:
    return (m.created_at, m.snapshot_id)


def _runs_matching(pool: Sequence[Manifest], run: str) -> set[str]:
    """The run ``run`` names: its id, or the one run whose id starts with it."""
    ids = {m.run_id for m in pool}
    if run in ids:
        return {run}
    matches = {r for r in ids if r.startswith(run)}
    if len(matches) > 1:
        raise SnapshotNotFound(
            f"run {run!r} is ambiguous ({len(matches)} runs match)",
            hint="give more of the run id; see 'navsnap list'",
        )
    return matches


def _not_found(
    store: Store,
    pool: Sequence[Manifest],
    *,
    year: int | None,
    run: str | None,
    database: str | None,
) -> SnapshotNotFound:
    what = " and ".join(
        s for s in (f"year {year}" if year else "", f"run {run}" if run else "") if s
    )
    of = f" of database {database}" if database is not None else ""
    own = (
        {m.snapshot_id for m in snapshots_of(pool, database, strict=False)}
        if database is not None
        else set()
    )
    others = [
        m
        for m in pool
        if database is not None
        and m.snapshot_id not in own
        and (year is None or m.year == year)
        and (run is None or m.run_id.startswith(run))
    ]
    if others:
        other = max(others, key=lambda m: (m.created_at, m.snapshot_id))
        return SnapshotNotFound(
            f"no snapshot{of} for {what or 'this request'} in {store.url!r}; database "
            f"{owner_key(other)} has one ({other.snapshot_id})",
            hint=f"name it explicitly to use another database's snapshot: {other.snapshot_id}",
        )
    return SnapshotNotFound(
        f"no snapshot{of} for {what or 'this request'} in {store.url!r}",
        hint="see 'navsnap list'",
    )


def _by_name(store: Store, ref: str, *, year: int | None, database: str | None) -> Manifest:
    """A snapshot named explicitly: id, tag, id prefix, or a run (prefix) with ``year``."""
    ids = manifest_ids(store)
    if ref in ids:
        return load_manifest(store, ref)
    tagged, broken = store.read_tags()
    if ref in tagged:
        return load_manifest(store, tagged[ref])
    for bad in broken:
        if bad.name == ref:  # a damaged tag is named, not reported as missing
            raise IntegrityError(bad.error, path=bad.key, hint="re-create it with 'navsnap tag'")
    if year is not None:
        runs = {
            layout.run_of(i)
            for i in ids
            if i.endswith(f"-{year}") and layout.run_of(i).startswith(ref)
        }
        if len(runs) == 1:
            return load_manifest(store, f"{runs.pop()}-{year}")
        if len(runs) > 1:
            raise SnapshotNotFound(
                f"run {ref!r} is ambiguous ({len(runs)} runs have year {year})",
                hint="give more of the run id; see 'navsnap list'",
            )
    matches = [i for i in ids if i.startswith(ref)]
    if len(matches) == 1:
        return load_manifest(store, matches[0])
    if (
        len(matches) > 1
        and year is not None
        and any(layout.run_of(i).startswith(ref) for i in matches)
    ):
        # A run (prefix) was given with a year, and none of its snapshots is of that year.
        raise SnapshotNotFound(
            f"run {ref!r} has no snapshot of year {year}",
            hint="see 'navsnap list' for its years",
        )
    if len(matches) > 1:
        raise SnapshotNotFound(
            f"snapshot {ref!r} is ambiguous ({len(matches)} match)",
            hint="give more of the id, or a year (--year, or RUN@YEAR); see 'navsnap list'",
        )
    raise SnapshotNotFound(
        f"no snapshot or tag {ref!r} in {store.url!r}", hint="see 'navsnap list'"
    )


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
        from navsnap import engine  # these import DuckDB, which status does not need
        from navsnap.catalog import column_signature, entry_columns

        # Nor objects fingerprinted under another scheme: scheme 1 holds -0.0 and 0.0 alike.
        if (
            manifest.mode != "parquet"
            or manifest.duckdb_version != engine.VERSION
            or manifest.fingerprint_version != FINGERPRINT_VERSION
        ):
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
