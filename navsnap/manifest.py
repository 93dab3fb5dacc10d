"""The snapshot manifest: frozen dataclasses, canonical JSON, integrity hash, version check.

``docs/format.md`` specifies every field. A manifest is written once and never changed; its
``integrity`` field is the xxh3-128 of the canonical JSON of every other field, so a reader
detects a damaged (or hand-edited) manifest. xxhash is not a cryptographic hash: it detects
corruption, not tampering.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import duckdb

from navsnap.catalog import Column, TableInfo
from navsnap.errors import FormatVersionError, IntegrityError
from navsnap.hashing import hash_bytes
from navsnap.store.layout import manifest_key

__all__ = [
    "FORMAT_VERSION",
    "FileCopy",
    "Manifest",
    "ObjectRef",
    "Partition",
    "TableEntry",
    "canonical_json",
    "manifest_key",
]

FORMAT_VERSION = 1


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class ObjectRef:
    """An immutable object in the store, named by the xxh3-128 of its bytes."""

    key: str
    xxh3: str
    size: int


@dataclass(frozen=True)
class Partition:
    """One (table, year) partition, or a whole global table (``year`` None)."""

    year: str | None
    rows: int
    fingerprint: str
    object: ObjectRef
    reused: bool = False


@dataclass(frozen=True)
class TableEntry:
    name: str
    schema: str
    table: str
    ddl: str
    columns: tuple[tuple[str, str, bool], ...]
    year_column: str | None
    depends_on: tuple[str, ...]
    partitions: tuple[Partition, ...]
    #: Columns stored in another form than their type, as (column, encoding): "text" is
    #: DuckDB's text of the value in a VARCHAR Parquet column (``docs/format.md``).
    encodings: tuple[tuple[str, str], ...] = ()

    @property
    def rows(self) -> int:
        return sum(p.rows for p in self.partitions)

    def column_list(self) -> list[Column]:
        return [Column(n, t, nn) for n, t, nn in self.columns]

    def info(self) -> TableInfo:
        """The table as the catalog module describes a live one."""
        return TableInfo(
            schema=self.schema,
            name=self.table,
            sql=self.ddl,
            columns=tuple(self.column_list()),
            year_column=self.year_column,
            depends_on=self.depends_on,
        )


@dataclass(frozen=True)
class FileCopy:
    """Whole-file mode: the copied ``.duckdb`` file."""

    object: ObjectRef
    method: str  # "reflink" | "copy"
    compressed: bool
    raw_size: int
    raw_xxh3: str


@dataclass(frozen=True)
class Manifest:
    snapshot_id: str
    run_id: str
    year: int
    created_at: str
    mode: str
    navsnap_version: str
    duckdb_version: str
    database_name: str
    storage_version: str | None
    year_column: str
    config: dict[str, Any]
    tables: tuple[TableEntry, ...] = ()
    ddl: tuple[dict[str, str], ...] = ()
    file: FileCopy | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    parent: str | None = None
    format_version: int = FORMAT_VERSION

    # ------------------------------------------------------------ derived

    @property
    def config_hash(self) -> str:
        return str(self.config.get("hash", ""))

    def table(self, name: str) -> TableEntry:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def objects(self) -> list[ObjectRef]:
        """Every object this manifest references (unique, in manifest order)."""
        seen: dict[str, ObjectRef] = {}
        if self.file is not None:
            seen[self.file.object.key] = self.file.object
        for t in self.tables:
            for p in t.partitions:
                seen.setdefault(p.object.key, p.object)
        return list(seen.values())

    def comparable(self, fingerprint: str) -> str:
        """The part of a fingerprint comparable with this manifest's: all of it under the
        DuckDB version that wrote it, only the row count under another (``hash()`` may
        differ between DuckDB versions)."""
        if self.duckdb_version == duckdb.__version__:
            return fingerprint
        return fingerprint.split(":", 1)[0]

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects())

    @property
    def new_bytes(self) -> int:
        """Bytes of objects this snapshot wrote itself (not shared with an earlier one)."""
        if self.file is not None:
            return self.file.object.size
        new = {
            p.object.key: p.object.size for t in self.tables for p in t.partitions if not p.reused
        }
        return sum(new.values())

    # ------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tables"] = []
        for t in self.tables:
            entry = {
                **asdict(t),
                "columns": [list(c) for c in t.columns],
                "depends_on": list(t.depends_on),
                "encodings": dict(t.encodings),
            }
            if not t.encodings:  # absent rather than empty: older manifests stay as they were
                del entry["encodings"]
            data["tables"].append(entry)
        data["ddl"] = [dict(d) for d in self.ddl]
        data["integrity"] = hash_bytes(canonical_json(data))
        return data

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes, *, source: str = "manifest") -> Manifest:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError(
                f"{source} is not valid JSON (damaged or truncated)", path=source
            ) from None
        if not isinstance(data, dict):
            raise IntegrityError(f"{source} is not a navsnap manifest", path=source)
        version = data.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
            raise FormatVersionError(
                f"{source} has format version {version!r}; this navsnap reads version "
                f"{FORMAT_VERSION}",
                hint="upgrade navsnap to read it",
            )
        claimed = data.pop("integrity", None)
        actual = hash_bytes(canonical_json(data))
        if claimed != actual:
            raise IntegrityError(
                f"{source} fails its integrity check (damaged or edited)",
                path=source,
                snapshot_id=str(data.get("snapshot_id")),
            )
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrityError(f"{source} is missing a field or malformed: {exc}") from None

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Manifest:
        tables = tuple(
            TableEntry(
                name=t["name"],
                schema=t["schema"],
                table=t["table"],
                ddl=t["ddl"],
                columns=tuple((c[0], c[1], bool(c[2])) for c in t["columns"]),
                year_column=t["year_column"],
                depends_on=tuple(t["depends_on"]),
                encodings=tuple(
                    sorted((str(k), str(v)) for k, v in t.get("encodings", {}).items())
                ),
                partitions=tuple(
                    Partition(
                        year=p["year"],
                        rows=int(p["rows"]),
                        fingerprint=p["fingerprint"],
                        object=ObjectRef(**p["object"]),
                        reused=bool(p.get("reused", False)),
                    )
                    for p in t["partitions"]
                ),
            )
            for t in data.get("tables", [])
        )
        f = data.get("file")
        file_copy = (
            FileCopy(
                object=ObjectRef(**f["object"]),
                method=f["method"],
                compressed=bool(f["compressed"]),
                raw_size=int(f["raw_size"]),
                raw_xxh3=f["raw_xxh3"],
            )
            if f
            else None
        )
        known = {f.name for f in fields(cls)}
        simple = {
            k: v for k, v in data.items() if k in known and k not in ("tables", "file", "ddl")
        }
        return cls(
            **simple,
            tables=tables,
            file=file_copy,
            ddl=tuple(dict(d) for d in data.get("ddl", [])),
        )
