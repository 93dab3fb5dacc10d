"""Compare two snapshots: a pure function over two manifests, no store access.

Per table and year: row counts on both sides and whether the fingerprints are equal; per
table: columns added, removed or retyped and whether the DDL changed; views, macros and
sequences added, removed or changed; validation aggregates and SQL checks side by side; the
configuration keys that differ. Works for the same year of two runs (what changed in the
model) and for consecutive years of one run (what a year added).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from navsnap.config import config_diff
from navsnap.errors import ChangedInput, ChangedKey
from navsnap.manifest import Manifest, TableEntry
from navsnap.manifest_check import table_key

__all__ = [
    "ColumnChange",
    "ManifestDiff",
    "ObjectChange",
    "PartitionDiff",
    "TableDiff",
    "ValueDiff",
    "diff_manifests",
]


@dataclass(frozen=True)
class ColumnChange:
    name: str
    change: str  # "added" | "removed" | "retyped" | "nullability"
    old: str | None
    new: str | None


@dataclass(frozen=True)
class PartitionDiff:
    """One year partition (``year`` None: a global table)."""

    year: str | None
    rows_a: int | None
    rows_b: int | None
    status: str  # "same" | "changed" | "added" | "removed"

    @property
    def fingerprint_equal(self) -> bool:
        return self.status == "same"


@dataclass(frozen=True)
class TableDiff:
    name: str
    status: str  # "same" | "changed" | "added" | "removed"
    rows_a: int | None
    rows_b: int | None
    ddl_changed: bool
    columns: tuple[ColumnChange, ...]
    partitions: tuple[PartitionDiff, ...]


@dataclass(frozen=True)
class ObjectChange:
    kind: str  # "view" | "macro" | "sequence" | "schema"
    name: str
    change: str  # "added" | "removed" | "changed"


@dataclass(frozen=True)
class ValueDiff:
    key: str
    a: Any
    b: Any

    @property
    def equal(self) -> bool:
        return bool(self.a == self.b)


@dataclass(frozen=True)
class ManifestDiff:
    a: str
    b: str
    year_a: int
    year_b: int
    run_a: str
    run_b: str
    tables: tuple[TableDiff, ...]
    objects: tuple[ObjectChange, ...]
    validation: tuple[ValueDiff, ...]
    checks: tuple[ValueDiff, ...]
    config_keys: tuple[ChangedKey, ...]
    config_inputs: tuple[ChangedInput, ...]

    @property
    def same_run(self) -> bool:
        return self.run_a == self.run_b

    @property
    def identical(self) -> bool:
        """Same data, schema, objects, aggregates and configuration."""
        return (
            all(t.status == "same" for t in self.tables)
            and not self.objects
            and all(v.equal for v in self.validation + self.checks)
            and not self.config_keys
            and not self.config_inputs
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": {"snapshot_id": self.a, "year": self.year_a, "run_id": self.run_a},
            "b": {"snapshot_id": self.b, "year": self.year_b, "run_id": self.run_b},
            "identical": self.identical,
            "tables": [
                {
                    "name": t.name,
                    "status": t.status,
                    "rows_a": t.rows_a,
                    "rows_b": t.rows_b,
                    "ddl_changed": t.ddl_changed,
                    "columns": [c.__dict__ for c in t.columns],
                    "partitions": [
                        {**p.__dict__, "fingerprint_equal": p.fingerprint_equal}
                        for p in t.partitions
                    ],
                }
                for t in self.tables
            ],
            "objects": [o.__dict__ for o in self.objects],
            "validation": [{**v.__dict__, "equal": v.equal} for v in self.validation],
            "checks": [{**v.__dict__, "equal": v.equal} for v in self.checks],
            "config": {
                "keys": [{"key": k.key, "a": k.old, "b": k.new} for k in self.config_keys],
                "inputs": [{"path": i.path, "a": i.old, "b": i.new} for i in self.config_inputs],
            },
        }


def _columns(a: TableEntry, b: TableEntry) -> tuple[ColumnChange, ...]:
    ca = {n: (t, nn) for n, t, nn in a.columns}
    cb = {n: (t, nn) for n, t, nn in b.columns}
    out: list[ColumnChange] = []
    for name, (t, _nn) in ca.items():
        if name not in cb:
            out.append(ColumnChange(name, "removed", t, None))
    for name, (t, nn) in cb.items():
        if name not in ca:
            out.append(ColumnChange(name, "added", None, t))
        elif ca[name][0] != t:
            out.append(ColumnChange(name, "retyped", ca[name][0], t))
        elif ca[name][1] != nn:
            out.append(
                ColumnChange(
                    name,
                    "nullability",
                    "NOT NULL" if ca[name][1] else "NULL",
                    "NOT NULL" if nn else "NULL",
                )
            )
    return tuple(out)


def _partitions(a: TableEntry | None, b: TableEntry | None) -> tuple[PartitionDiff, ...]:
    pa = {p.year: p for p in a.partitions} if a else {}
    pb = {p.year: p for p in b.partitions} if b else {}
    out: list[PartitionDiff] = []
    for year in sorted(set(pa) | set(pb)):
        x, y = pa.get(year), pb.get(year)
        if x is None:
            status = "added"
        elif y is None:
            status = "removed"
        else:
            status = "same" if x.fingerprint == y.fingerprint else "changed"
        out.append(
            PartitionDiff(year.to_json(), x.rows if x else None, y.rows if y else None, status)
        )
    return tuple(out)


def _table(name: str, a: TableEntry | None, b: TableEntry | None) -> TableDiff:
    parts = _partitions(a, b)
    if a is None or b is None:
        return TableDiff(
            name,
            "added" if a is None else "removed",
            a.rows if a else None,
            b.rows if b else None,
            False,
            (),
            parts,
        )
    cols = _columns(a, b)
    ddl_changed = " ".join(a.ddl.split()) != " ".join(b.ddl.split())
    same = not cols and not ddl_changed and all(p.status == "same" for p in parts)
    return TableDiff(name, "same" if same else "changed", a.rows, b.rows, ddl_changed, cols, parts)


def _values(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[ValueDiff, ...]:
    return tuple(ValueDiff(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)))


def _objects(a: Manifest, b: Manifest) -> tuple[ObjectChange, ...]:
    da = {(d.kind, d.schema, d.name): (" ".join(d.sql.split()), d.used) for d in a.ddl}
    db = {(d.kind, d.schema, d.name): (" ".join(d.sql.split()), d.used) for d in b.ddl}
    out: list[ObjectChange] = []
    for key in sorted(set(da) | set(db)):
        kind, schema, name = key
        label = table_key(schema, name)
        if key not in da:
            out.append(ObjectChange(kind, label, "added"))
        elif key not in db:
            out.append(ObjectChange(kind, label, "removed"))
        elif da[key] != db[key]:
            out.append(ObjectChange(kind, label, "changed"))
    return tuple(out)


def diff_manifests(a: Manifest, b: Manifest) -> ManifestDiff:
    """What differs from snapshot ``a`` to snapshot ``b`` (pure)."""
    ta = {t.name: t for t in a.tables}
    tb = {t.name: t for t in b.tables}
    order = [t.name for t in a.tables] + [t.name for t in b.tables if t.name not in ta]
    keys, inputs = config_diff(
        a.config.identity,
        b.config.identity,
        a.config.inputs,
        b.config.inputs,
    )
    return ManifestDiff(
        a=a.snapshot_id,
        b=b.snapshot_id,
        year_a=a.year,
        year_b=b.year,
        run_a=a.run_id,
        run_b=b.run_id,
        tables=tuple(_table(n, ta.get(n), tb.get(n)) for n in order),
        objects=_objects(a, b),
        validation=_values(a.validation, b.validation),
        checks=_values(a.checks, b.checks),
        config_keys=tuple(keys),
        config_inputs=tuple(inputs),
    )
