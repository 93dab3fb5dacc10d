"""Retention: which snapshots to keep (a pure policy), then the prune that applies it.

Policy (:func:`decide`, pure, no I/O). Snapshots are grouped first (``group_by``: by
database and lineage, the default; by database; or not at all), and the rules apply within
each group. A snapshot is kept when any of these holds:

* it is tagged (``navsnap tag``), or it is one of its group's *protected* snapshots: the
  newest verified snapshot of the group's newest run (the newest snapshot of that run when
  none is verified), and the newest snapshot of the group's furthest year;
* ``keep_last``: it is one of the group's N newest snapshots;
* ``keep_runs``: it belongs to one of the group's N newest runs (by their newest snapshot);
* ``keep_years``: its year is listed;
* ``keep_within``: it was created within that many seconds.

With no keep rule, every snapshot is kept. ``max_size`` then removes the oldest snapshots
that are neither tagged nor protected (keep rules do not save them) until the objects the
remaining snapshots reference fit in that many bytes (shared objects counted once); a
snapshot dropped that way comes back when every object it needs is kept anyway.

Prune (:func:`prune`) under the store's prune lock: delete the manifests the policy drops,
*then* the objects no remaining manifest references, except objects younger than the grace
period (a checkpoint in progress may be about to reference them) and nothing at all while a
checkpoint marks itself as writing. A damaged manifest stops object deletion: the objects it
references cannot be known. Every deletion is reported; a failed delete raises StoreError.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from navsnap.config import RetentionSection
from navsnap.errors import UsageError
from navsnap.faults import fault_point
from navsnap.identity import owner_key
from navsnap.lock import DEFAULT_LOCK_TTL, prune_lock, store_writers
from navsnap.manifest import Manifest
from navsnap.store import Store, referenced_objects

__all__ = [
    "DEFAULT_GRACE_MINUTES",
    "Decision",
    "PruneReport",
    "RetentionPolicy",
    "decide",
    "group_of",
    "parse_duration",
    "parse_size",
    "prune",
]

DEFAULT_GRACE_MINUTES = 60.0

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}


def parse_size(text: str) -> int:
    """'100MB' -> 100_000_000; '1.5GiB' -> 1610612736. Decimal units are powers of 1000."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text)
    unit = m.group(2).upper() if m else ""
    if m is None or unit not in _UNITS:
        raise UsageError(
            f"size {text!r} is not understood", hint="write it like 500MB, 2GB or 1.5GiB"
        )
    return int(float(m.group(1)) * _UNITS[unit])


#: How prune groups snapshots before applying the keep rules (``--group-by``).
GROUP_BY = ("lineage", "database", "none")

_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """'30d' -> seconds. Units: s, m, h, d, w."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if m is None:
        raise UsageError(
            f"duration {text!r} is not understood", hint="write it like 30d, 12h or 2w"
        )
    return float(m.group(1)) * _DURATION[m.group(2)]


@dataclass(frozen=True)
class RetentionPolicy:
    keep_last: int = 0
    keep_runs: int = 0
    keep_years: tuple[int, ...] = ()
    max_size: int | None = None
    #: Keep every snapshot created within this many seconds.
    keep_within: float | None = None
    #: "lineage" (database and configuration hash), "database" or "none" (the whole store).
    group_by: str = "lineage"

    def __post_init__(self) -> None:
        if self.group_by not in GROUP_BY:
            raise UsageError(
                f"group-by {self.group_by!r} is not known", hint="use lineage, database or none"
            )
        # A negative count read as "keep everything" would delete (the CLI's options and the
        # [retention] keys are checked where they are parsed; this is the API's check).
        for name in ("keep_last", "keep_runs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(
                    f"retention {name} must be a whole number >= 0, got {value!r}",
                    hint="0 turns the rule off",
                )
        for name in ("max_size", "keep_within"):
            value = getattr(self, name)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise UsageError(
                    f"retention {name} must be a number >= 0, got {value!r}",
                    hint="None turns the rule off",
                )
        if not isinstance(self.keep_years, tuple) or not all(
            isinstance(y, int) and not isinstance(y, bool) for y in self.keep_years
        ):
            raise UsageError(
                f"retention keep_years must be a tuple of years, got {self.keep_years!r}",
                hint="e.g. keep_years=(2025, 2029)",
            )

    @property
    def has_keep_rules(self) -> bool:
        return bool(self.keep_last or self.keep_runs or self.keep_years or self.keep_within)

    @property
    def active(self) -> bool:
        return self.has_keep_rules or self.max_size is not None

    @classmethod
    def from_config(cls, section: RetentionSection) -> RetentionPolicy:
        return cls(
            keep_last=section.keep_last,
            keep_runs=section.keep_runs,
            keep_years=tuple(section.keep_years),
            max_size=parse_size(section.max_size) if section.max_size else None,
        )

    def describe(self) -> str:
        parts = []
        if self.keep_last:
            parts.append(f"keep the last {self.keep_last}")
        if self.keep_runs:
            parts.append(f"keep {self.keep_runs} run(s)")
        if self.keep_years:
            parts.append("keep years " + ",".join(str(y) for y in self.keep_years))
        if self.keep_within is not None:
            parts.append(f"keep those younger than {self.keep_within:g}s")
        if self.max_size is not None:
            parts.append(f"at most {self.max_size} bytes")
        rules = "; ".join(parts) or "no policy (only unreferenced objects are removed)"
        if parts and self.group_by != "none":
            rules += f" (per {self.group_by})"
        return rules


@dataclass(frozen=True)
class Decision:
    snapshot_id: str
    keep: bool
    reasons: tuple[str, ...]
    #: The group the keep rules were applied in ("simulation/1a2b3c4d", "simulation", "").
    group: str = ""


def _newest(ms: Iterable[Manifest]) -> Manifest | None:
    return max(ms, key=lambda m: (m.created_at, m.snapshot_id), default=None)


def _size(manifests: Iterable[Manifest]) -> int:
    objs: dict[str, int] = {}
    for m in manifests:
        for o in m.objects():
            objs[o.key] = o.size
    return sum(objs.values())


def group_of(manifest: Manifest, group_by: str) -> str:
    """The retention group of ``manifest``: its database (:func:`~navsnap.identity.owner_key`),
    and lineage, or one group."""
    if group_by == "none":
        return ""
    if group_by == "database":
        return owner_key(manifest)
    return f"{owner_key(manifest)}/{manifest.config_hash[:8]}"


def _age_seconds(created_at: str, now: dt.datetime) -> float:
    try:
        created = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0  # unreadable time: treat as new (kept)
    if created.tzinfo is None:
        created = created.replace(tzinfo=dt.UTC)
    return (now - created).total_seconds()


def decide(
    manifests: Sequence[Manifest],
    policy: RetentionPolicy,
    *,
    tags: Mapping[str, str] | None = None,
    verified: Mapping[str, str] | None = None,
    now: dt.datetime | None = None,
) -> tuple[Decision, ...]:
    """Keep or remove each snapshot, with the reasons (pure; oldest first).

    The keep rules and the protected snapshots apply within each group
    (``policy.group_by``): a run of one database never pushes out another database's.
    """
    ordered = sorted(manifests, key=lambda m: (m.created_at, m.snapshot_id))
    reasons: dict[str, list[str]] = {m.snapshot_id: [] for m in ordered}
    groups: dict[str, list[Manifest]] = {}
    for m in ordered:
        groups.setdefault(group_of(m, policy.group_by), []).append(m)
    tag_names: dict[str, list[str]] = {}
    for name, sid in (tags or {}).items():
        tag_names.setdefault(sid, []).append(name)
    for sid, names in tag_names.items():
        if sid in reasons:
            reasons[sid].append("tagged " + ",".join(sorted(names)))
    for members in groups.values():
        _protect(members, reasons, verified or {})
    protected = {sid for sid, r in reasons.items() if r}

    if not policy.has_keep_rules:
        for r in reasons.values():
            r.append("no keep rule")
    else:
        for members in groups.values():
            _keep_rules(members, policy, reasons, now or dt.datetime.now(dt.UTC))

    keep = {sid for sid, r in reasons.items() if r}
    dropped_for_size: set[str] = set()
    if policy.max_size is not None:
        for m in ordered:
            if _size(x for x in ordered if x.snapshot_id in keep) <= policy.max_size:
                break
            if m.snapshot_id in keep and m.snapshot_id not in protected:
                keep.discard(m.snapshot_id)
                dropped_for_size.add(m.snapshot_id)
        # A dropped snapshot whose objects are all held by kept ones costs nothing: keep it.
        for m in reversed(ordered):
            if m.snapshot_id in dropped_for_size:
                kept_now = [x for x in ordered if x.snapshot_id in keep]
                if _size([*kept_now, m]) == _size(kept_now):
                    keep.add(m.snapshot_id)
                    dropped_for_size.discard(m.snapshot_id)
                    reasons[m.snapshot_id].append("costs no bytes (objects shared)")

    out: list[Decision] = []
    for m in ordered:
        sid = m.snapshot_id
        group = group_of(m, policy.group_by)
        if sid in keep:
            out.append(Decision(sid, True, tuple(reasons[sid]), group))
        elif sid in dropped_for_size:
            out.append(Decision(sid, False, (f"store above {policy.max_size} bytes",), group))
        else:
            out.append(Decision(sid, False, ("no keep rule matches",), group))
    return tuple(out)


def _runs_newest_first(members: Sequence[Manifest]) -> list[str]:
    run_newest: dict[str, Manifest] = {}
    for m in members:
        run_newest[m.run_id] = m  # members ascending: the last one is the newest
    return sorted(run_newest, key=lambda r: (run_newest[r].created_at, r), reverse=True)


def _protect(
    members: Sequence[Manifest], reasons: dict[str, list[str]], verified: Mapping[str, str]
) -> None:
    """A group's protected snapshots: the newest verified of its newest run (the newest of
    it when none is verified), and its most advanced state (the newest of its highest
    year), so that a newer run killed early never costs the only complete later state."""
    runs = _runs_newest_first(members)
    if not runs:
        return
    newest_run = [m for m in members if m.run_id == runs[0]]
    ver = [m for m in newest_run if m.snapshot_id in verified]
    guard = _newest(ver) or _newest(newest_run)
    assert guard is not None
    reasons[guard.snapshot_id].append(
        "newest verified of the newest run" if ver else "newest of the newest run"
    )
    top = max(m.year for m in members)
    furthest = _newest(m for m in members if m.year == top)
    assert furthest is not None
    if furthest.snapshot_id != guard.snapshot_id:
        reasons[furthest.snapshot_id].append(f"newest state of the furthest year {top}")


def _keep_rules(
    members: Sequence[Manifest],
    policy: RetentionPolicy,
    reasons: dict[str, list[str]],
    now: dt.datetime,
) -> None:
    if policy.keep_last:
        for m in members[-policy.keep_last :]:
            reasons[m.snapshot_id].append(f"among the last {policy.keep_last}")
    if policy.keep_runs:
        kept_runs = set(_runs_newest_first(members)[: policy.keep_runs])
        for m in members:
            if m.run_id in kept_runs:
                reasons[m.snapshot_id].append(f"in one of the {policy.keep_runs} newest runs")
    if policy.keep_years:
        for m in members:
            if m.year in policy.keep_years:
                reasons[m.snapshot_id].append(f"year {m.year} kept")
    if policy.keep_within is not None:
        for m in members:
            if _age_seconds(m.created_at, now) <= policy.keep_within:
                reasons[m.snapshot_id].append(f"younger than {policy.keep_within:g}s")


# --------------------------------------------------------------------------- prune


@dataclass(frozen=True)
class PruneReport:
    store: str
    policy: RetentionPolicy
    dry_run: bool
    decisions: tuple[Decision, ...]
    removed_manifests: tuple[str, ...]
    removed_objects: tuple[str, ...]
    freed_bytes: int
    kept_young_objects: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    size_after: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "policy": self.policy.__dict__ | {"keep_years": list(self.policy.keep_years)},
            "dry_run": self.dry_run,
            "decisions": [
                {
                    "snapshot_id": d.snapshot_id,
                    "keep": d.keep,
                    "reasons": list(d.reasons),
                    "group": d.group,
                }
                for d in self.decisions
            ],
            "removed_manifests": list(self.removed_manifests),
            "removed_objects": list(self.removed_objects),
            "freed_bytes": self.freed_bytes,
            "kept_young_objects": list(self.kept_young_objects),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "size_after": self.size_after,
        }


ProgressFn = Callable[[str, int, int], None]


def prune(
    store: Store,
    policy: RetentionPolicy,
    *,
    grace_minutes: float = DEFAULT_GRACE_MINUTES,
    dry_run: bool = False,
    wait_lock: float = 0.0,
    lock_ttl: float = DEFAULT_LOCK_TTL,
    progress: ProgressFn | None = None,
) -> PruneReport:
    """Apply ``policy`` to ``store``: manifests first, then unreferenced objects."""
    from navsnap.verify import forget, last_verified

    store.check_readable()
    warnings: list[str] = []
    notes: list[str] = []
    with prune_lock(store, wait=wait_lock, ttl=lock_ttl, warnings=warnings):
        manifests, broken = store.read_manifests()
        decisions = decide(
            manifests, policy, tags=store.tags(strict=True), verified=last_verified(store)
        )
        drop = [d.snapshot_id for d in decisions if not d.keep]
        if not policy.active:
            notes.append("no keep option and no [retention] policy: only unreferenced objects")
        removed_m: list[str] = []
        if not dry_run:
            for sid in drop:
                store.delete_manifest(sid)
                removed_m.append(sid)
            fault_point("prune-after-manifest-delete")
        else:
            removed_m = list(drop)

        # Objects: only when no checkpoint is writing, from a fresh listing of manifests.
        removed_o: list[str] = []
        young: list[str] = []
        freed = 0
        writers = store_writers(store, ttl=lock_ttl)
        for w in writers:
            if w.stale is not None and not dry_run:
                who = w.info.describe() if w.info else w.key
                warnings.append(f"removed a stale checkpoint marker of {who}: {w.stale}")
                store.delete(w.key)
        live = [w for w in writers if w.stale is None]
        if broken:
            notes.append(
                f"{len(broken)} damaged manifest(s) ({', '.join(b.snapshot_id for b in broken)}): "
                "no object removed, their objects cannot be known; see 'navsnap verify'"
            )
        elif live:
            who = ", ".join(w.info.describe() for w in live if w.info)
            notes.append(f"a checkpoint is writing ({who}): no object removed; prune again later")
        else:
            now_manifests, now_broken = store.read_manifests()
            if now_broken:
                notes.append("a manifest became unreadable meanwhile: no object removed")
            else:
                gone = set(drop) if dry_run else set()
                referenced = referenced_objects(
                    m for m in now_manifests if m.snapshot_id not in gone
                )
                unreferenced = store.unreferenced_objects(referenced, grace=grace_minutes * 60.0)
                young = [o.key for o in unreferenced.young]
                candidates = unreferenced.collectable
                for i, obj in enumerate(candidates):
                    if progress is not None:
                        progress("prune", i, len(candidates))
                    if not dry_run:
                        try:
                            store.delete(obj.key)
                        except FileNotFoundError:
                            continue
                        fault_point("prune-mid-objects")
                    removed_o.append(obj.key)
                    freed += obj.size
                if progress is not None:
                    progress("prune", len(candidates), len(candidates))
                if young:
                    notes.append(
                        f"kept {len(young)} unreferenced object(s) younger than "
                        f"{grace_minutes:g} min (a checkpoint may be writing them)"
                    )
        if not dry_run:
            forget(store, snapshots=removed_m, objects=removed_o)
        remaining = [m for m in manifests if m.snapshot_id not in set(drop)]
        size_after = _size(remaining)
        if policy.max_size is not None and size_after > policy.max_size:
            notes.append(
                f"still {size_after} bytes, above the limit of {policy.max_size}: the rest is "
                "tagged or protected"
            )
    return PruneReport(
        store=store.url,
        policy=policy,
        dry_run=dry_run,
        decisions=decisions,
        removed_manifests=tuple(removed_m),
        removed_objects=tuple(removed_o),
        freed_bytes=freed,
        kept_young_objects=tuple(young),
        notes=tuple(notes),
        warnings=tuple(warnings),
        size_after=size_after,
    )
