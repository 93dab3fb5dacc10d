"""Deciding how to resume: lineage, verification, drift, and the fast path.

``plan_resume`` never changes anything; ``navsnap status`` prints its decision and
``navsnap run --resume`` carries it out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from navsnap.config import Config
from navsnap.errors import NavsnapError
from navsnap.index import read_all
from navsnap.integrity import verify_objects
from navsnap.lineage import config_block, drift_error, same_lineage
from navsnap.manifest import Manifest
from navsnap.restore import plan_restore
from navsnap.store import Store

__all__ = ["ResumeDecision", "plan_resume"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumeDecision:
    """What --resume does: 'continue' (database matches), 'restore', 'start', 'complete'."""

    action: str
    reason: str
    snapshot: Manifest | None = None
    next_year: int | None = None
    restore_strategy: str | None = None
    skipped: tuple[str, ...] = field(default_factory=tuple)
    #: 'start' on an existing database: it is moved aside first.
    moves_aside: bool = False

    def explain(self) -> str:
        if self.action == "start":
            aside = "; the existing database is moved aside first" if self.moves_aside else ""
            return f"no usable snapshot ({self.reason}); starting at {self.next_year}{aside}"
        assert self.snapshot is not None
        if self.action == "complete":
            return f"run already complete at {self.snapshot.year} ({self.snapshot.snapshot_id})"
        if self.action == "continue":
            return (
                f"database matches {self.snapshot.snapshot_id} (end of {self.snapshot.year}); "
                f"continuing with {self.next_year}"
            )
        return (
            f"restoring {self.snapshot.snapshot_id} (end of {self.snapshot.year}, "
            f"{self.restore_strategy}: {self.reason}); then continuing with {self.next_year}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "snapshot": self.snapshot.snapshot_id if self.snapshot else None,
            "snapshot_year": self.snapshot.year if self.snapshot else None,
            "next_year": self.next_year,
            "restore_strategy": self.restore_strategy,
            "skipped": list(self.skipped),
            "moves_aside": self.moves_aside,
            "message": self.explain(),
        }


def plan_resume(
    store: Store,
    config: Config,
    *,
    db_path: Path,
    years: tuple[int, int],
    block: Mapping[str, Any] | None = None,
) -> ResumeDecision:
    """Where ``run --resume`` starts, and why: the one decision ``status`` prints and ``run``
    carries out. Changes nothing; raises DriftError when only other lineages' snapshots exist.
    """
    decision = _decide(store, config, db_path=db_path, years=years, block=block)
    if decision.action == "start" and db_path.exists():
        decision = dataclasses.replace(decision, moves_aside=True)
    log.info("resume: %s", decision.explain())
    for line in decision.skipped:
        log.info("resume: %s", line)
    return decision


def _decide(
    store: Store,
    config: Config,
    *,
    db_path: Path,
    years: tuple[int, int],
    block: Mapping[str, Any] | None,
) -> ResumeDecision:
    """Find the newest verified snapshot of this lineage and decide what to do with it."""
    first, last = years
    block = block if block is not None else config_block(config)
    if not store.has_marker():
        return ResumeDecision("start", f"no store at {store.url}", next_year=first)
    store.check_readable()
    manifests, broken = read_all(store)
    skipped = [f"skipped damaged manifest {b.snapshot_id}: {b.error}" for b in broken]
    # A snapshot of the year before the first continues the run too (--years 2027-2029
    # after a finished 2025-2026); one whose run began after ``first`` does not.
    in_range = [
        m
        for m in manifests
        if first - 1 <= m.year <= last
        and not (m.config.origin_year is not None and m.config.origin_year > first)
    ]
    mine = [m for m in in_range if same_lineage(m.config, block)]
    if not mine:
        if in_range:
            raise drift_error(max(in_range, key=lambda m: (m.year, m.created_at)), block)
        return ResumeDecision(
            "start",
            f"no snapshot of years {first}-{last - 1}",
            next_year=first,
            skipped=tuple(skipped),
        )
    for m in sorted(mine, key=lambda m: (m.year, m.created_at, m.snapshot_id), reverse=True):
        try:
            verify_objects(store, m, m.objects())
        except NavsnapError as exc:
            skipped.append(f"skipped snapshot {m.snapshot_id}: {exc.message}")
            continue
        plan = plan_restore(store, m, db_path=db_path)
        if m.year >= last:
            action = "complete" if plan.strategy == "none" else "restore"
            if action == "complete":
                return ResumeDecision(
                    "complete", "database matches the last year", m, None, None, tuple(skipped)
                )
        if plan.strategy == "none":
            return ResumeDecision(
                "continue", "database matches the snapshot", m, m.year + 1, None, tuple(skipped)
            )
        return ResumeDecision("restore", plan.reason, m, m.year + 1, plan.strategy, tuple(skipped))
    return ResumeDecision(
        "start",
        "no snapshot of this configuration verifies",
        next_year=first,
        skipped=tuple(skipped),
    )
