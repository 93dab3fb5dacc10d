"""Verify a store: manifests, objects, and (``deep``) the data inside the objects.

What is checked:

* every manifest's integrity hash and format version (:meth:`Manifest.from_json`);
* every object a checked manifest references exists with the recorded size and xxh3-128
  (read through mmap on local stores); ``sample`` checks a random share of them;
* ``deep``: each Parquet object is read with DuckDB, cast to the recorded column types, and
  its row count and fingerprint recomputed per partition (the fingerprint compared when the
  manifest's DuckDB hashes as the running one: :func:`navsnap.compare.full_strength`; else
  there is nothing to recompute it from, and the row counts and the objects' xxh3 stand);
  when the manifest records validation aggregates or SQL checks they are recomputed over
  views named like the tables;
* when the whole store is checked: objects in the store that no manifest references
  (orphans; those younger than ``grace`` seconds may belong to a checkpoint in progress and
  are listed apart, not counted as problems), and tags that name no snapshot.

The result is a :class:`VerifyReport`; nothing is printed and nothing is repaired. What was
verified, and when, is recorded in the store's ``verified`` state record (advisory: see
:func:`last_verified`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from navsnap.catalog import catalog_names, secret_names, table_info
from navsnap.compare import (
    Mismatch,
    aggregate_mismatches,
    full_strength,
    table_mismatches,
    unlisted_objects,
)
from navsnap.errors import IntegrityError, NavsnapError, StoreError
from navsnap.filecopy import unpack_verified
from navsnap.hotwindow import hot_keys
from navsnap.index import manifest_ids, read_all, resolve
from navsnap.integrity import check_object
from navsnap.manifest import Manifest, ObjectRef
from navsnap.materialize import copy_tables, local_files, typed_parquet
from navsnap.store import Store, layout, referenced_objects

__all__ = [
    "STATE_KEY",
    "Problem",
    "VerifyReport",
    "last_damaged",
    "last_verified",
    "verify",
]

_STATE = "verified"
STATE_KEY = layout.state_key(_STATE)
DEFAULT_ORPHAN_GRACE = 3600.0

ProgressFn = Callable[[str, int, int], None]

#: Problem kinds, in the order they are reported.
KINDS = (
    "damaged-manifest",
    "missing",
    "corrupt",
    "data-mismatch",
    "validation-mismatch",
    "damaged-tag",
    "dangling-tag",
    "orphaned",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the store. ``key`` is the object, manifest or tag concerned."""

    kind: str
    key: str
    detail: str
    snapshots: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "detail": self.detail,
            "snapshots": list(self.snapshots),
        }


@dataclass(frozen=True)
class VerifyReport:
    store: str
    snapshots: tuple[str, ...]
    whole_store: bool
    deep: bool
    sample_pct: float | None
    objects_total: int
    objects_checked: int
    objects_skipped_recent: int
    bytes_hashed: int
    seconds: float
    problems: tuple[Problem, ...] = ()
    pending_orphans: tuple[str, ...] = ()
    verified_snapshots: tuple[str, ...] = ()
    #: ``deep``: snapshots whose data was compared by row counts (and validation aggregates)
    #: only, because a DuckDB that hashes otherwise wrote their fingerprints.
    counts_only: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def broken_snapshots(self) -> tuple[str, ...]:
        """Snapshots that cannot be restored as recorded."""
        return tuple(
            sorted({s for p in self.problems if p.kind != "orphaned" for s in p.snapshots})
        )

    @property
    def throughput(self) -> float:
        """Bytes hashed per second."""
        return self.bytes_hashed / self.seconds if self.seconds > 0 else 0.0

    def count(self, kind: str) -> int:
        return sum(1 for p in self.problems if p.kind == kind)

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "ok": self.ok,
            "snapshots": list(self.snapshots),
            "whole_store": self.whole_store,
            "deep": self.deep,
            "sample_pct": self.sample_pct,
            "objects_total": self.objects_total,
            "objects_checked": self.objects_checked,
            "objects_skipped_recent": self.objects_skipped_recent,
            "bytes_hashed": self.bytes_hashed,
            "seconds": round(self.seconds, 3),
            "problems": [p.to_dict() for p in self.problems],
            "broken_snapshots": list(self.broken_snapshots),
            "pending_orphans": list(self.pending_orphans),
            "verified_snapshots": list(self.verified_snapshots),
            "counts_only": list(self.counts_only),
        }


# --------------------------------------------------------------------------- state


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@dataclass
class _State:
    snapshots: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Snapshots the last verify found damaged (a key of their own: a reader that does not
    #: know it must not take them for verified).
    damaged: dict[str, dict[str, Any]] = field(default_factory=dict)


def _read_state(store: Store) -> _State:
    data = store.read_state(_STATE)  # None when absent or damaged
    if not isinstance(data, dict):  # advisory only: a damaged record means "nothing verified yet"
        return _State()
    snaps = data.get("snapshots")
    objs = data.get("objects")
    damaged = data.get("damaged")
    return _State(
        snapshots=dict(snaps) if isinstance(snaps, dict) else {},
        objects=dict(objs) if isinstance(objs, dict) else {},
        damaged=dict(damaged) if isinstance(damaged, dict) else {},
    )


def _write_state(store: Store, state: _State) -> None:
    store.write_state(
        _STATE,
        {
            "version": 1,
            "snapshots": state.snapshots,
            "objects": state.objects,
            "damaged": state.damaged,
        },
    )


def last_verified(store: Store) -> dict[str, str]:
    """Snapshot id -> time (ISO, UTC) of its last verify that found it intact."""
    out: dict[str, str] = {}
    for sid, rec in _read_state(store).snapshots.items():
        if isinstance(rec, dict) and isinstance(rec.get("at"), str):
            out[sid] = rec["at"]
    return out


def last_damaged(store: Store) -> dict[str, str]:
    """Snapshot id -> time (ISO, UTC) of its last verify, for snapshots it found damaged."""
    out: dict[str, str] = {}
    for sid, rec in _read_state(store).damaged.items():
        if isinstance(rec, dict) and isinstance(rec.get("at"), str):
            out[sid] = rec["at"]
    return out


def forget(store: Store, *, snapshots: Iterable[str] = (), objects: Iterable[str] = ()) -> None:
    """Drop state records of removed snapshots and objects (used by prune)."""
    snaps, objs = set(snapshots), set(objects)
    if not snaps and not objs:
        return
    state = _read_state(store)
    if not (snaps & (set(state.snapshots) | set(state.damaged)) or objs & set(state.objects)):
        return
    state.snapshots = {k: v for k, v in state.snapshots.items() if k not in snaps}
    state.damaged = {k: v for k, v in state.damaged.items() if k not in snaps}
    state.objects = {k: v for k, v in state.objects.items() if k not in objs}
    _write_state(store, state)


# --------------------------------------------------------------------------- checks


def _problem(manifest: Manifest, key: str, m: Mismatch) -> Problem:
    data = m.kind in ("partition", "unreadable", "catalog")
    kind = "data-mismatch" if data else "validation-mismatch"
    return Problem(kind, key, m.describe(), (manifest.snapshot_id,))


def _deep_parquet(store: Store, manifest: Manifest, bad_keys: set[str]) -> list[Problem]:
    """Recompute counts, fingerprints and aggregates from the Parquet objects."""
    problems: list[Problem] = []
    con = duckdb.connect(config={"autoinstall_known_extensions": False})  # manifest types
    try:
        complete = True
        for entry in manifest.tables:
            info = table_info(entry)
            for part in entry.partitions:
                if part.object.key in bad_keys:
                    complete = False
                    continue
                with local_files(store, [part.object]) as files:
                    src = typed_parquet(entry, files)
                    try:
                        # The object holds exactly this partition, nothing else.
                        alone = dataclasses.replace(entry, partitions=(part,))
                        found = table_mismatches(con, manifest, alone, info=info, source=src)
                    except duckdb.Error as exc:
                        found = [
                            Mismatch(
                                "unreadable",
                                entry.name,
                                part.year,
                                detail=f"{part.year}: Parquet: {str(exc).splitlines()[0]}",
                            )
                        ]
                problems += [_problem(manifest, part.object.key, m) for m in found]
                complete = complete and not found
        if complete and manifest.validation:
            # The built-in aggregates only: check SQL is never taken from a manifest.
            copy_tables(con, store, manifest.tables)
            problems += [
                _problem(manifest, layout.manifest_key(manifest.snapshot_id), m)
                for m in aggregate_mismatches(con, manifest)
            ]
    finally:
        con.close()
    return problems


def _deep_file(store: Store, manifest: Manifest) -> list[Problem]:
    """Whole-file snapshots: unpack the copy, open it read-only, recompute fingerprints and
    list its catalog (objects the manifest does not list are a ``data-mismatch``)."""
    assert manifest.file is not None
    sid = manifest.snapshot_id
    key = manifest.file.object.key
    out: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="navsnap-verify-") as tmp:
        dest = Path(tmp) / "copy.duckdb"
        try:
            unpack_verified(manifest.file, store=store, dest=dest, snapshot_id=sid)
        except IntegrityError:
            return [
                Problem("data-mismatch", key, "unpacked database file has the wrong hash", (sid,))
            ]
        try:
            con = duckdb.connect(str(dest), read_only=True)
        except duckdb.Error as exc:
            return [
                Problem(
                    "data-mismatch", key, f"copy does not open: {str(exc).splitlines()[0]}", (sid,)
                )
            ]
        try:
            for entry in manifest.tables:
                out += [_problem(manifest, key, m) for m in table_mismatches(con, manifest, entry)]
            # The copy holds only what the manifest lists (what a restore of it checks too).
            unlisted = unlisted_objects(catalog_names(con), manifest, allowed=secret_names(con))
            out += [_problem(manifest, key, m) for m in unlisted]
            if not out:
                out += [
                    _problem(manifest, layout.manifest_key(sid), m)
                    for m in aggregate_mismatches(con, manifest)
                ]
        finally:
            con.close()
    return out


# --------------------------------------------------------------------------- verify


def _select(store: Store, refs: Sequence[str]) -> tuple[list[Manifest], list[Problem], bool]:
    """(manifests to check, damaged-manifest problems, whole store?)."""
    if not refs:
        good, bad = read_all(store)
        problems = [
            Problem(
                "damaged-manifest", layout.manifest_key(b.snapshot_id), b.error, (b.snapshot_id,)
            )
            for b in bad
        ]
        return good, problems, True
    chosen: dict[str, Manifest] = {}
    problems = []
    ids = set(manifest_ids(store))
    for ref in refs:
        try:
            m = resolve(store, ref)
        except IntegrityError as exc:
            sid = exc.snapshot_id or ref
            problems.append(
                Problem("damaged-manifest", layout.manifest_key(sid), exc.one_line(), (sid,))
            )
            continue
        except NavsnapError as exc:
            if ref in ids:  # e.g. a newer format version
                problems.append(
                    Problem("damaged-manifest", layout.manifest_key(ref), exc.one_line(), (ref,))
                )
                continue
            raise
        chosen[m.snapshot_id] = m
    return list(chosen.values()), problems, False


def verify(
    store: Store,
    snapshots: Sequence[str] = (),
    *,
    deep: bool = False,
    sample_pct: float | None = None,
    since_hours: float | None = None,
    orphan_grace: float = DEFAULT_ORPHAN_GRACE,
    seed: int | None = None,
    record: bool = True,
    progress: ProgressFn | None = None,
) -> VerifyReport:
    """Verify ``snapshots`` (ids, prefixes or tags), or the whole store when none are given.

    ``sample_pct`` (0-100] checks that share of the objects, chosen at random (``seed``).
    ``since_hours`` skips objects verified intact within that many hours.
    """
    t0 = time.perf_counter()
    store.check_readable()
    manifests, problems, whole = _select(store, snapshots)
    users: dict[str, list[str]] = {}
    refs: dict[str, ObjectRef] = {}
    for m in manifests:
        for obj in m.objects():
            users.setdefault(obj.key, []).append(m.snapshot_id)
            refs.setdefault(obj.key, obj)

    state = _read_state(store)
    now = _now()
    keys = sorted(refs)
    skipped: set[str] = set()
    if since_hours is not None:
        cutoff = now - dt.timedelta(hours=since_hours)
        for key in keys:
            rec = state.objects.get(key)
            if not isinstance(rec, dict) or rec.get("xxh3") != refs[key].xxh3:
                continue
            at = _parse_iso(str(rec.get("at", "")))
            if at is not None and at >= cutoff:
                skipped.add(key)
    todo = [k for k in keys if k not in skipped]
    if sample_pct is not None and todo:
        n = max(1, round(len(todo) * sample_pct / 100.0))
        todo = sorted(random.Random(seed).sample(todo, min(n, len(todo))))

    bad_keys: set[str] = set()
    checked_ok: set[str] = set()
    hashed = 0
    for i, key in enumerate(todo):
        if progress is not None:
            progress("verify", i, len(todo))
        result = check_object(store, refs[key])
        hashed += result.bytes_hashed
        if result.problem is None:
            checked_ok.add(key)
            state.objects[key] = {"xxh3": refs[key].xxh3, "at": _iso(now)}
        else:
            bad_keys.add(key)
            state.objects.pop(key, None)
            problems.append(Problem(result.problem, key, result.detail, tuple(sorted(users[key]))))
    if progress is not None:
        progress("verify", len(todo), len(todo))

    if deep:
        for i, m in enumerate(manifests):
            if progress is not None:
                progress("deep", i, len(manifests))
            if m.mode == "file" and m.file is not None:
                if m.file.object.key not in bad_keys:
                    problems.extend(_deep_file(store, m))
            else:
                problems.extend(_deep_parquet(store, m, bad_keys))
        if progress is not None:
            progress("deep", len(manifests), len(manifests))

    pending: list[str] = []
    if whole:
        # A released hot copy is no orphan: its manifest names it, prune collects it.
        known_keys = referenced_objects(manifests) | hot_keys(manifests)
        unreferenced = store.unreferenced_objects(known_keys, grace=orphan_grace)
        pending = [found.key for found in unreferenced.young]
        for found in unreferenced.collectable:
            problems.append(
                Problem("orphaned", found.key, f"no manifest references it ({found.size} B)")
            )
        known = {m.snapshot_id for m in manifests} | set(manifest_ids(store))
        good_tags, broken_tags = store.read_tags()
        for bad_tag in broken_tags:
            problems.append(Problem("damaged-tag", bad_tag.key, bad_tag.error))
        for name, sid in sorted(good_tags.items()):
            if sid not in known:
                problems.append(
                    Problem(
                        "dangling-tag", layout.tag_key(name), f"tag names missing snapshot {sid}"
                    )
                )

    broken = {s for p in problems if p.kind != "orphaned" for s in p.snapshots}
    verified = []
    for m in manifests:
        if m.snapshot_id in broken:
            state.snapshots.pop(m.snapshot_id, None)
            kinds = sorted({p.kind for p in problems if m.snapshot_id in p.snapshots})
            state.damaged[m.snapshot_id] = {"at": _iso(now), "problems": kinds}
            continue
        if all(o.key in checked_ok or o.key in skipped for o in m.objects()):
            verified.append(m.snapshot_id)
            state.snapshots[m.snapshot_id] = {"at": _iso(now), "deep": deep}
            state.damaged.pop(m.snapshot_id, None)
    if record:
        # The record is advisory: a store that cannot be written (read-only mount, read-only
        # credentials) can still be verified.
        with contextlib.suppress(StoreError):
            _write_state(store, state)

    order = {k: i for i, k in enumerate(KINDS)}
    problems.sort(key=lambda p: (order.get(p.kind, 99), p.key))
    return VerifyReport(
        store=store.url,
        snapshots=tuple(m.snapshot_id for m in manifests),
        whole_store=whole,
        deep=deep,
        sample_pct=sample_pct,
        objects_total=len(keys),
        objects_checked=len(todo),
        objects_skipped_recent=len(skipped),
        bytes_hashed=hashed,
        seconds=time.perf_counter() - t0,
        problems=tuple(problems),
        pending_orphans=tuple(pending),
        verified_snapshots=tuple(verified),
        counts_only=tuple(m.snapshot_id for m in manifests if deep and not full_strength(m)),
    )
