"""What a restore plan says it will do: its types, apart from the planner (which needs the
engine) so that ``status`` answering from its stat record builds a plan without DuckDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from navsnap.catalog import CatalogName
    from navsnap.manifest import Manifest, ObjectRef, PartitionKey

__all__ = ["PartitionAction", "RestorePlan"]


@dataclass(frozen=True)
class PartitionAction:
    table: str
    year: PartitionKey | None  # None: the whole database file (whole-file snapshots)
    action: str  # "load" | "drop" | "keep"
    rows: int
    bytes: int


def _year_json(key: PartitionKey | None) -> str | None:
    return key.to_json() if key is not None else None


@dataclass(frozen=True)
class RestorePlan:
    snapshot_id: str
    year: int
    target: str
    strategy: str  # "full" | "delta" | "file" | "none"
    reason: str
    actions: tuple[PartitionAction, ...] = ()
    #: Always empty: tables the snapshot does not list are never dropped in place (the
    #: planner chooses a full restore, which keeps the old file aside). Kept for --json.
    drop_tables: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    #: COMMENT ON statements a delta applies so the comments are the snapshot's.
    comments: tuple[str, ...] = ()
    #: A delta's: the live database's catalog as planned (:func:`navsnap.catalog.catalog_names`),
    #: which a delta applied under the same lock starts from. None: not read.
    live_catalog: frozenset[CatalogName] | None = field(default=None, compare=False, repr=False)

    @property
    def bytes_to_read(self) -> int:
        return sum(a.bytes for a in self.actions if a.action == "load")

    def count(self, action: str) -> int:
        return sum(1 for a in self.actions if a.action == action)

    def objects(self, manifest: Manifest) -> list[ObjectRef]:
        """The objects this plan reads (unique, in manifest order)."""
        if manifest.mode == "file":
            return [manifest.file.object] if manifest.file else []
        want = {(a.table, a.year) for a in self.actions if a.action == "load"}
        seen: dict[str, ObjectRef] = {}
        for t in manifest.tables:
            for p in t.partitions:
                if (t.name, p.year) in want:
                    seen.setdefault(p.object.key, p.object)
        return list(seen.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "year": self.year,
            "target": self.target,
            "strategy": self.strategy,
            "reason": self.reason,
            "bytes_to_read": self.bytes_to_read,
            "load": [
                {"table": a.table, "year": _year_json(a.year), "rows": a.rows, "bytes": a.bytes}
                for a in self.actions
                if a.action == "load"
            ],
            "drop": [
                {"table": a.table, "year": _year_json(a.year), "rows": a.rows}
                for a in self.actions
                if a.action == "drop"
            ],
            "keep": [
                {"table": a.table, "year": _year_json(a.year)}
                for a in self.actions
                if a.action == "keep"
            ],
            "drop_tables": list(self.drop_tables),
            "comments": len(self.comments),
        }
