"""The snapshot manifest: frozen dataclasses, canonical JSON, integrity hash, version check.

``docs/format.md`` specifies every field. A manifest is written once and never changed; its
``integrity`` field is the xxh3-128 of the canonical JSON of every other field, so a reader
detects a damaged (or hand-edited) manifest. xxhash is not a cryptographic hash: it detects
corruption, not tampering.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from navsnap.errors import FormatVersionError, IntegrityError
from navsnap.hashing import hash_bytes
from navsnap.manifest_check import check_manifest
from navsnap.store.layout import manifest_key

__all__ = [
    "FINGERPRINT_VERSION",
    "FORMAT_VERSION",
    "Comment",
    "ConfigBlock",
    "DdlEntry",
    "FileCopy",
    "Fingerprint",
    "HotCopy",
    "Manifest",
    "ObjectRef",
    "Partition",
    "PartitionKey",
    "TableEntry",
    "canonical_json",
    "format_version_for",
    "manifest_key",
]

#: The newest manifest format this navsnap reads and writes. A manifest is written in the
#: oldest version that holds it (:func:`format_version_for`), so older readers read every
#: snapshot they would not misread.
FORMAT_VERSION = 2
#: The fingerprint scheme this release writes (``fingerprint_version``): 1, DuckDB's
#: ``hash()`` of each row; 2, that hash plus identity terms for values DuckDB holds equal
#: but which differ (:func:`navsnap.catalog.row_hash_sql`). A manifest without the field
#: has scheme 1; fingerprints compare only under the scheme that computed them.
FINGERPRINT_VERSION = 2
#: The attribute (not a field: never serialised, compared or copied) that marks a manifest
#: whose SQL texts DuckDB's parser accepted (:meth:`Manifest.sql_checked`).
_SQL_CHECKED = "_sql_checked"


def format_version_for(ddl: tuple[DdlEntry, ...] | list[DdlEntry]) -> int:
    """The format version of a manifest with ``ddl``: 2 when a sequence has handed out
    values (``used``: a reader of version 1 would restore it to hand out its last value
    again), else 1."""
    return 2 if any(d.used for d in ddl) else 1


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class ObjectRef:
    """An immutable object in the store, named by the xxh3-128 of its bytes."""

    key: str
    xxh3: str
    size: int


@dataclass(frozen=True)
class Fingerprint:
    """Order-independent content fingerprint: row count and the sum of row hashes.

    On disk it is the string ``"<rows>:<hash_sum>"``. ``hash_sum`` is DuckDB's ``hash()``
    summed as a HUGEINT, kept as its decimal text; it is only comparable between fingerprints
    computed by the same DuckDB version (:mod:`navsnap.compare` decides).
    """

    rows: int
    hash_sum: str

    def as_str(self) -> str:
        return f"{self.rows}:{self.hash_sum}"

    @classmethod
    def parse(cls, text: str) -> Fingerprint:
        """``"rows:hash_sum"`` -> Fingerprint; ValueError when it is not of that form."""
        if not isinstance(text, str):
            raise ValueError(f"fingerprint {text!r} is not a string")
        rows, sep, hash_sum = text.partition(":")
        if not sep or not rows.isdigit():
            raise ValueError(f"fingerprint {text!r} is not of the form rows:hash")
        return cls(int(rows), hash_sum)


class PartitionKind(enum.Enum):
    YEAR = "year"
    NULL_YEAR = "null-year"
    GLOBAL = "global"


@dataclass(frozen=True)
class PartitionKey:
    """Which rows of a table a partition holds: one value of the year column (its text),
    the rows whose year is NULL, or all rows of a global table (one without a year column).

    On disk (``partitions[].year``): the year as a string, ``"null"``, or JSON null.
    ``str()`` gives the label shown to users: the year, ``null`` or ``(global)``.
    """

    kind: PartitionKind
    year: str = ""

    @classmethod
    def of_year(cls, text: str) -> PartitionKey:
        return cls(PartitionKind.YEAR, text)

    @classmethod
    def from_json(cls, value: object) -> PartitionKey:
        if value is None:
            return GLOBAL
        if not isinstance(value, str):
            raise ValueError(f"partition year {value!r} is not a string or null")
        return NULL_YEAR if value == "null" else cls.of_year(value)

    def to_json(self) -> str | None:
        if self.kind is PartitionKind.GLOBAL:
            return None
        if self.kind is PartitionKind.NULL_YEAR:
            return "null"
        return self.year

    @property
    def is_global(self) -> bool:
        return self.kind is PartitionKind.GLOBAL

    def sort_key(self) -> tuple[int, str]:
        """Global first, then the NULL year, then years in text order (the export order)."""
        order = {PartitionKind.GLOBAL: 0, PartitionKind.NULL_YEAR: 1, PartitionKind.YEAR: 2}
        return (order[self.kind], self.year)

    def __str__(self) -> str:
        if self.kind is PartitionKind.GLOBAL:
            return "(global)"
        return "null" if self.kind is PartitionKind.NULL_YEAR else self.year

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, PartitionKey):
            return NotImplemented
        return self.sort_key() < other.sort_key()


#: The partition of a global table.
GLOBAL = PartitionKey(PartitionKind.GLOBAL)
#: The rows of a year-scoped table whose year is NULL.
NULL_YEAR = PartitionKey(PartitionKind.NULL_YEAR)


@dataclass(frozen=True)
class Partition:
    """One (table, year) partition, or a whole global table."""

    year: PartitionKey
    rows: int
    fingerprint: Fingerprint
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

    def partition(self, key: PartitionKey) -> Partition | None:
        return next((p for p in self.partitions if p.year == key), None)


@dataclass(frozen=True)
class DdlEntry:
    """A non-table catalog object recreated from DDL (``ddl[]`` in the manifest)."""

    kind: str  # "schema" | "type" | "sequence" | "macro" | "view" | "index"
    schema: str
    name: str
    sql: str
    #: A sequence that has handed out values: ``sql`` creates it at the value it handed out
    #: last, and a restore calls ``nextval`` on it once (navsnap writes that statement:
    #: :func:`navsnap.catalog.advance_sequence_sql`). In the JSON only when true; a manifest
    #: holding it has format version 2 (:func:`format_version_for`).
    used: bool = False


@dataclass(frozen=True)
class Comment:
    """A comment on a catalog object (``comments[]`` in the manifest): what ``COMMENT ON``
    sets. ``on`` is the kind of object as COMMENT ON spells it (``TABLE``, ``COLUMN``,
    ``VIEW``, ``SEQUENCE``, ``MACRO``, ``MACRO TABLE``, ``TYPE``, ``INDEX``); a column's
    comment names its table or view and the ``column``. navsnap writes the statement itself
    from these values (:func:`navsnap.catalog.comment_sql`)."""

    on: str
    schema: str
    name: str
    text: str
    column: str | None = None

    @property
    def target(self) -> tuple[str, str, str, str | None]:
        """What the comment is on: (on, schema, name, column)."""
        return (self.on, self.schema, self.name, self.column)


@dataclass(frozen=True)
class ConfigBlock:
    """The manifest's ``config``: the run's configuration and lineage identity.

    ``values`` is the effective configuration (every section), ``identity`` the flat keys
    that define lineage, ``inputs`` the xxh3-128 of declared input files, ``hash`` the lineage
    hash. ``extra`` keeps every other key exactly as written (``origin_year``, and keys a
    later navsnap may add), so a manifest re-serialises byte for byte.
    """

    values: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    _TYPED = ("values", "identity", "inputs", "hash")

    @property
    def origin_year(self) -> int | None:
        """The first year of the chain of runs this snapshot continues (None: unknown)."""
        value = self.extra.get("origin_year")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def checks(self) -> dict[str, str]:
        """The named SQL checks of the configuration (``[checks]``)."""
        checks = self.values.get("checks")
        return {str(k): str(v) for k, v in checks.items()} if isinstance(checks, dict) else {}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfigBlock:
        if not isinstance(data, Mapping):
            raise ValueError("config is not an object")
        parts = {k: data.get(k, {}) for k in ("values", "identity", "inputs")}
        for name, value in parts.items():
            if not isinstance(value, dict):
                raise ValueError(f"config.{name} is not an object")
        return cls(
            values=dict(parts["values"]),
            identity=dict(parts["identity"]),
            inputs=dict(parts["inputs"]),
            hash=str(data.get("hash", "")),
            extra={k: v for k, v in data.items() if k not in cls._TYPED},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "values": dict(self.values),
            "identity": dict(self.identity),
            "inputs": dict(self.inputs),
            "hash": self.hash,
            **self.extra,
        }


@dataclass(frozen=True)
class FileCopy:
    """Whole-file mode: the copied ``.duckdb`` file."""

    object: ObjectRef
    method: str  # "reflink" | "copy"
    compressed: bool
    raw_size: int
    raw_xxh3: str


@dataclass(frozen=True)
class HotCopy:
    """The hot tier: a whole-file copy of the year-end database beside the Parquet objects.

    Optional (``hot`` in the manifest, absent when there is none). ``object`` is the stored
    object (its xxh3-128 and size as stored); ``raw_xxh3``/``raw_size`` those of the database
    file it unpacks to; ``compression`` is ``"none"`` (a reflink or a plain copy) or
    ``"zstd"``; ``storage_version`` the file's DuckDB storage version; ``keep`` the number of
    latest year-ends of the database whose copies are kept (:mod:`navsnap.hotwindow`).
    """

    object: ObjectRef
    method: str  # "reflink" | "copy"
    compression: str  # "none" | "zstd"
    raw_size: int
    raw_xxh3: str
    storage_version: str | None
    keep: int


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
    config: ConfigBlock
    tables: tuple[TableEntry, ...] = ()
    ddl: tuple[DdlEntry, ...] = ()
    file: FileCopy | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    checks: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    parent: str | None = None
    #: 1 unless the manifest holds what only version 2 spells (:func:`format_version_for`,
    #: which the snapshot writer passes; the check refuses a version too old for the content).
    format_version: int = 1
    #: Comments on catalog objects; absent from the JSON when there are none (older readers
    #: ignore the field and restore without comments).
    comments: tuple[Comment, ...] = ()
    #: The hot tier's whole-file copy; absent from the JSON when there is none.
    hot: HotCopy | None = None
    #: The scheme of every fingerprint in this manifest; absent from the JSON when 1 (the
    #: manifests written before scheme 2 stay as they were).
    fingerprint_version: int = FINGERPRINT_VERSION
    #: The database the snapshot is of, as navsnap derives it from the file's path (its
    #: stem: ``sim.v2`` for ``sim.v2.duckdb``; :mod:`navsnap.identity`). ``database_name`` is
    #: DuckDB's catalog name (``sim``), used only to rewrite view SQL. Absent from the JSON
    #: when None: manifests written before it record only the catalog name.
    database_id: str | None = None

    # ------------------------------------------------------------ derived

    @property
    def config_hash(self) -> str:
        return self.config.hash

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

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def total_bytes(self) -> int:
        return sum(o.size for o in self.objects())

    @property
    def hot_bytes(self) -> int:
        """Bytes of the hot tier's copy as stored (0 without one)."""
        return self.hot.object.size if self.hot is not None else 0

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
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["tables"] = [_table_to_dict(t) for t in self.tables]
        data["ddl"] = [_ddl_to_dict(d) for d in self.ddl]
        if self.comments:  # absent rather than empty: older manifests stay as they were
            data["comments"] = [asdict(c) for c in self.comments]
        else:
            del data["comments"]
        data["file"] = asdict(self.file) if self.file is not None else None
        if self.hot is not None:  # absent rather than null: older manifests stay as they were
            data["hot"] = asdict(self.hot)
        else:
            del data["hot"]
        if self.fingerprint_version == 1:
            del data["fingerprint_version"]
        if self.database_id is None:  # absent rather than null: older manifests stay as they were
            del data["database_id"]
        data["config"] = self.config.to_dict()
        data["validation"] = dict(self.validation)
        data["checks"] = dict(self.checks)
        data["timings"] = dict(self.timings)
        data["integrity"] = hash_bytes(canonical_json(data))
        return data

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False).encode()

    def sql_checked(self) -> Manifest:
        """This manifest, once DuckDB's parser has accepted its SQL texts (each DDL is exactly
        one CREATE, each column type parses): IntegrityError naming the field if not. Every
        code path that executes or shows the manifest's SQL calls it first. The verdict is
        kept on this object, so it costs nothing for a manifest :meth:`from_json` checked in
        full; a copy (``dataclasses.replace``) is checked again."""
        if not self.__dict__.get(_SQL_CHECKED, False):
            check_manifest(self, source=f"manifest {self.snapshot_id}", sql=True)
            object.__setattr__(self, _SQL_CHECKED, True)
        return self

    @classmethod
    def from_json(cls, raw: bytes, *, source: str = "manifest", sql: bool = True) -> Manifest:
        """The manifest ``raw`` holds, every field checked (:mod:`navsnap.manifest_check`):
        IntegrityError if damaged or refused, FormatVersionError if newer. ``sql`` False
        leaves the parse of its SQL texts to :meth:`sql_checked` (for a reader that neither
        executes nor shows them)."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise IntegrityError(
                f"{source} is not valid JSON (damaged or truncated)", path=source
            ) from None
        if not isinstance(data, dict):
            raise IntegrityError(f"{source} is not a navsnap manifest", path=source)
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise IntegrityError(
                f"{source}: field format_version {str(version)[:40]!r} is not a version number",
                path=source,
            )
        if version > FORMAT_VERSION:
            raise FormatVersionError(
                f"{source} has format version {version!r}; this navsnap reads versions 1 to "
                f"{FORMAT_VERSION}",
                hint="upgrade navsnap to read it",
            )
        claimed = data.pop("integrity", None)
        try:
            actual = hash_bytes(canonical_json(data))
        except (RecursionError, ValueError):
            actual = ""
        if claimed != actual:
            raise IntegrityError(
                f"{source} fails its integrity check (damaged or edited)",
                path=source,
                snapshot_id=str(data.get("snapshot_id")),
            )
        try:
            manifest = cls._from_dict(data)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise IntegrityError(
                f"{source} is missing a field or malformed: {type(exc).__name__} {exc}",
                path=source,
            ) from None
        if manifest.fingerprint_version < 1:
            raise IntegrityError(
                f"{source}: field fingerprint_version {manifest.fingerprint_version} is not a "
                "version number",
                path=source,
            )
        if manifest.fingerprint_version > FINGERPRINT_VERSION:
            raise FormatVersionError(
                f"{source} has fingerprint version {manifest.fingerprint_version}; this navsnap "
                f"computes versions up to {FINGERPRINT_VERSION}",
                hint="upgrade navsnap to read it",
            )
        # Untrusted input: every field navsnap turns into SQL fits the format, or it is refused.
        check_manifest(manifest, source=source, sql=sql)
        if sql:
            object.__setattr__(manifest, _SQL_CHECKED, True)
        return manifest

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Manifest:
        for name in ("tables", "ddl", "comments"):
            if not isinstance(data.get(name, []), list):
                raise TypeError(f"{name} is not a list")
        f = data.get("file")
        if f is not None and not isinstance(f, dict):
            raise TypeError("file is not an object or null")
        # Raw values: check_manifest refuses a method, flag or digest of the wrong type.
        file_copy = (
            FileCopy(
                object=_object(f["object"]),
                method=f["method"],
                compressed=f["compressed"],
                raw_size=_int(f["raw_size"]),
                raw_xxh3=f["raw_xxh3"],
            )
            if f is not None
            else None
        )
        known = {f.name for f in fields(cls)}
        simple = {
            k: v
            for k, v in data.items()
            if k in known
            and k
            not in ("tables", "file", "ddl", "config", "comments", "hot", "fingerprint_version")
        }
        return cls(
            **simple,
            tables=tuple(_table_from_dict(t) for t in data.get("tables", [])),
            file=file_copy,
            hot=_hot(data["hot"]) if "hot" in data else None,
            fingerprint_version=_int(data.get("fingerprint_version", 1)),
            config=ConfigBlock.from_dict(data["config"]),
            ddl=tuple(
                DdlEntry(
                    kind=str(d["kind"]),
                    schema=str(d["schema"]),
                    name=str(d["name"]),
                    sql=str(d["sql"]),
                    used=d.get("used", False),  # raw: check_manifest refuses a non-boolean
                )
                for d in data.get("ddl", [])
            ),
            # Raw values: check_manifest refuses any that is not a string.
            comments=tuple(
                Comment(
                    on=c["on"],
                    schema=c["schema"],
                    name=c["name"],
                    text=c["text"],
                    column=c.get("column"),
                )
                for c in data.get("comments", [])
            ),
        )


def _int(value: object) -> int:
    """A JSON integer, exactly (never a float, a bool or a string of digits)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{str(value)[:40]!r} is not an integer")
    return value


def _hot(data: Mapping[str, Any]) -> HotCopy:
    storage = data["storage_version"]
    if storage is not None and not isinstance(storage, str):
        raise TypeError("hot.storage_version is not a string or null")
    return HotCopy(
        object=_object(data["object"]),
        method=str(data["method"]),
        compression=str(data["compression"]),
        raw_size=_int(data["raw_size"]),
        raw_xxh3=str(data["raw_xxh3"]),
        storage_version=storage,
        keep=_int(data["keep"]),
    )


def _object(data: Mapping[str, Any]) -> ObjectRef:
    return ObjectRef(key=str(data["key"]), xxh3=str(data["xxh3"]), size=_int(data["size"]))


def _ddl_to_dict(d: DdlEntry) -> dict[str, Any]:
    data = asdict(d)
    if not d.used:  # absent rather than false: older manifests stay as they were
        del data["used"]
    return data


def _table_to_dict(t: TableEntry) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": t.name,
        "schema": t.schema,
        "table": t.table,
        "ddl": t.ddl,
        "columns": [list(c) for c in t.columns],
        "year_column": t.year_column,
        "depends_on": list(t.depends_on),
        "partitions": [
            {
                "year": p.year.to_json(),
                "rows": p.rows,
                "fingerprint": p.fingerprint.as_str(),
                "object": asdict(p.object),
                "reused": p.reused,
            }
            for p in t.partitions
        ],
    }
    if t.encodings:  # absent rather than empty: older manifests stay as they were
        data["encodings"] = dict(t.encodings)
    return data


def _table_from_dict(t: Mapping[str, Any]) -> TableEntry:
    return TableEntry(
        name=t["name"],
        schema=t["schema"],
        table=t["table"],
        ddl=t["ddl"],
        columns=tuple((c[0], c[1], bool(c[2])) for c in t["columns"]),
        year_column=t["year_column"],
        depends_on=tuple(t["depends_on"]),
        encodings=tuple(sorted((str(k), str(v)) for k, v in t.get("encodings", {}).items())),
        partitions=tuple(
            Partition(
                year=PartitionKey.from_json(p["year"]),
                rows=_int(p["rows"]),
                fingerprint=Fingerprint.parse(p["fingerprint"]),
                object=_object(p["object"]),
                reused=bool(p.get("reused", False)),
            )
            for p in t["partitions"]
        ),
    )
