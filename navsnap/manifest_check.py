"""Manifests are untrusted input: check every field that navsnap turns into SQL.

Whoever can write a store can write its manifests, and the integrity hash is an unkeyed xxh3
that anyone can recompute. So a manifest that parsed is checked here before anything uses it
(:func:`check_manifest`, called by :meth:`navsnap.manifest.Manifest.from_json`, and for
the parse of its SQL texts by :meth:`~navsnap.manifest.Manifest.sql_checked` where a reader
loaded it without, see ``docs/concepts.md``):

* every DDL string (``tables[].ddl``, ``ddl[].sql``) is exactly one statement, as DuckDB's own
  parser splits it, and a ``CREATE`` of its declared kind: a table entry is a ``CREATE TABLE``
  with a column list and nothing after it (never ``AS SELECT``), a type's definition parses
  as a type, a sequence's options are words and numbers (and a sequence marked ``used``,
  which a restore advances once with a ``nextval`` navsnap writes, creates the sequence its
  entry names);
* a comment (``comments[]``) is on a kind of object ``COMMENT ON`` takes, and its names and
  text are strings (navsnap writes the statement, quoting each);
* every column type parses as a DuckDB type (or is a plain type name);
* version strings match a pattern (``storage_version`` goes into ``ATTACH``);
* the database name is one line without a double quote (a restore under another catalog name
  rewrites view and macro SQL with it, :func:`navsnap.materialize.restored_ddl`, and checks
  the rewritten text again, :func:`check_rewritten_ddl`);
* names are strings (navsnap quotes them itself), the year column is one of the columns, every
  count is a non-negative integer.

A refused manifest is an :class:`~navsnap.errors.IntegrityError` naming the field.
No SQL is ever run here.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from navsnap.errors import IntegrityError

# DuckDB is imported by the checks that parse SQL: a manifest read without them (``status``
# from its stat record) needs no engine.
if TYPE_CHECKING:
    import duckdb

    from navsnap.manifest import Comment, DdlEntry, FileCopy, Manifest, ObjectRef, TableEntry

__all__ = [
    "COMMENT_ON",
    "DDL_KINDS",
    "MODES",
    "check_database_name",
    "check_ddl",
    "check_manifest",
    "check_rewritten_ddl",
    "check_type",
    "check_version",
    "sql_parser",
    "table_key",
]

#: The kinds of ``ddl[]`` entries and the object each one creates.
DDL_KINDS = {
    "schema": r"SCHEMA",
    "type": r"TYPE",
    "sequence": r"SEQUENCE",
    "macro": r"(?:MACRO|FUNCTION)",
    "view": r"VIEW",
    "index": r"(?:UNIQUE\s+)?INDEX",
}

#: What a ``comments[]`` entry may be on, as COMMENT ON spells it.
COMMENT_ON = ("TABLE", "COLUMN", "VIEW", "SEQUENCE", "MACRO", "MACRO TABLE", "TYPE", "INDEX")

_IDENT = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'
_QUALIFIED = rf"{_IDENT}(?:\s*\.\s*{_IDENT}){{0,2}}"
_HEAD = r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?"
_HEX32 = re.compile(r"[0-9a-f]{32}")
_VERSION = re.compile(r"v?[0-9]+(?:\.[0-9]+){0,3}(?:[-+.]?[A-Za-z0-9]+){0,4}\+?")
_MAX_SQL = 1_000_000
_MAX_DEPTH = 16


class _Refused(ValueError):
    """A field does not fit the format (the message names why)."""


def _statement(sql: object, *, parse: bool = True) -> str:
    """The one statement ``sql`` holds; refused unless it is exactly one CREATE as DuckDB's
    parser splits it (``parse`` False: only that it is a string without NUL, not too long)."""
    if not isinstance(sql, str):
        raise _Refused("is not a string")
    if len(sql) > _MAX_SQL:
        raise _Refused("is too long")
    if "\x00" in sql:
        raise _Refused("holds a NUL character")
    if not parse:
        return sql
    key = _digest("statement", sql)
    if _known(key):
        return sql
    problem = _parsed(sql) if len(sql) <= _MEMO_CHARS else _parse_problem(sql)
    if problem is not None:
        raise _Refused(problem)
    _accept(key)
    return sql


#: SHA-256 digests (:func:`_digest`) of the texts the running DuckDB's parser accepted in this
#: process. The same text parses the same way under the same DuckDB, and SHA-256 makes another
#: text with a known digest infeasible to find, so a hostile manifest cannot borrow a verdict.
_ACCEPTED: set[str] = set()
_MAX_ACCEPTED = 100_000


def _known(key: str) -> bool:
    return key in _ACCEPTED


def _digest(kind: str, text: str) -> str:
    import hashlib  # only a parse needs it: status from its record starts without OpenSSL

    return hashlib.sha256(f"{kind}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()


def _accept(key: str) -> None:
    if len(_ACCEPTED) < _MAX_ACCEPTED:
        _ACCEPTED.add(key)


#: Every snapshot of a store repeats the same DDL and column types: each distinct short text
#: is parsed once per process (the answer depends only on the text and the running DuckDB).
_MEMO_CHARS = 4096


_PARSERS = threading.local()


def sql_parser() -> duckdb.DuckDBPyConnection:
    """This thread's connection for parsing, a cursor of the process's scratch instance
    (:mod:`navsnap.scratch`, which ``attach`` writes its views file with too): the
    module-level ``duckdb.extract_statements`` goes through DuckDB's default connection, whose
    set-up and per-call cursor cost more than the parse (measured: about 2 ms a call against
    0.1 ms)."""
    from navsnap import scratch

    con: duckdb.DuckDBPyConnection | None = getattr(_PARSERS, "con", None)
    if con is None:
        con = scratch.cursor()
        _PARSERS.con = con
    return con


def _parse_problem(sql: str) -> str | None:
    """Why ``sql`` is not exactly one CREATE statement, or None."""
    import duckdb

    try:
        statements = sql_parser().extract_statements(sql)
    except duckdb.Error as exc:
        return f"does not parse: {str(exc).splitlines()[0]}"
    if len(statements) != 1:
        return f"holds {len(statements)} statements, not one"
    if statements[0].type != duckdb.StatementType.CREATE:
        return f"is a {statements[0].type.name} statement, not a CREATE"
    return None


_parsed = lru_cache(maxsize=1024)(_parse_problem)


def _close_paren(text: str, start: int) -> int:
    """Index just after the parenthesis matching ``text[start] == '('`` (quotes skipped)."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            end = text.find(ch, i + 1)
            while end != -1 and text[end + 1 : end + 2] == ch:  # doubled quote
                end = text.find(ch, end + 2)
            if end == -1:
                break
            i = end + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise _Refused("has unbalanced parentheses")


_TABLE_HEAD = rf"{_HEAD}TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QUALIFIED})\s*(?=\()"


def check_table_ddl(
    sql: object, *, parse: bool = True, schema: str | None = None, table: str | None = None
) -> None:
    """``CREATE TABLE name (columns and constraints)``: nothing else, never ``AS SELECT``
    (``parse`` False: only that it is a string, see :func:`check_manifest`). With ``table``,
    the name it creates must be that table (in ``schema`` when it names one): a restore runs
    the DDL and then loads the entry's table, so any other name is a manifest that lies."""
    text = _statement(sql, parse=parse)
    if not parse:
        return
    m = re.match(_TABLE_HEAD, text, re.I)
    if m is None:
        raise _Refused("is not CREATE TABLE with a column list")
    if isinstance(table, str):  # a table that is no string is refused by its own field
        _creates(m.group("name"), schema if isinstance(schema, str) else None, table)
    key = _digest("table", text)  # every snapshot repeats its tables' DDL: checked once
    if _known(key):
        return
    rest = text[_close_paren(text, m.end()) :]
    if not re.fullmatch(r"\s*;?\s*", rest):
        raise _Refused("has more after its column list (CREATE TABLE ... AS is refused)")
    _accept(key)


def _unquoted(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def _creates(name: str, schema: str | None, table: str, *, noun: str = "table") -> None:
    """Refuse a table DDL's (qualified) ``name`` unless it is ``table`` of ``schema``:
    qualified by it, or bare when it is main, as DuckDB writes a table's DDL (names compare
    without regard to case, as DuckDB's catalog compares them). ``noun``: what the entry
    holds, for the message."""
    parts = [_unquoted(p) for p in re.findall(_IDENT, name)]
    want = [table] if len(parts) == 1 and schema == "main" else [schema or "main", table]
    if len(parts) > 2 or [p.lower() for p in parts] != [w.lower() for w in want]:
        named = ".".join(parts)
        raise _Refused(f"creates {named[:80]!r}, not the entry's {noun} {table[:80]!r}")


def check_ddl(kind: object, sql: object, *, parse: bool = True) -> None:
    """One ``ddl[]`` entry: exactly one CREATE of ``kind``; ValueError (naming why) if not
    (``parse`` False: only that ``kind`` is known and ``sql`` a string)."""
    if not isinstance(kind, str) or kind not in DDL_KINDS:
        raise _Refused(f"kind {kind!r} is not one of {', '.join(sorted(DDL_KINDS))}")
    text = _statement(sql, parse=parse)
    if not parse:
        return
    m = re.match(rf"{_HEAD}{DDL_KINDS[kind]}\s+", text, re.I)
    if m is None:
        raise _Refused(f"is not a CREATE {kind.upper()} statement")
    rest = text[m.end() :]
    if kind == "schema":
        if not re.fullmatch(rf"(?:IF\s+NOT\s+EXISTS\s+)?{_QUALIFIED}\s*;?\s*", rest, re.I):
            raise _Refused("is not CREATE SCHEMA <name>")
    elif kind == "sequence":
        if not re.fullmatch(rf"{_QUALIFIED}(?:\s+(?:[A-Za-z]+|-?[0-9]+))*\s*;?\s*", rest, re.I):
            raise _Refused("is not CREATE SEQUENCE <name> with numeric options")
    elif kind == "type":
        t = re.fullmatch(rf"{_QUALIFIED}\s+AS\s+(?P<body>.+?)\s*;?\s*", rest, re.I | re.S)
        if t is None:
            raise _Refused("is not CREATE TYPE <name> AS <type>")
        check_type(t.group("body"))


def check_type(text: object, *, parse: bool = True) -> None:
    """A column type: parses as a DuckDB type, or is a plain (user) type name (``parse``
    False: only that it is a short non-empty string)."""
    if not isinstance(text, str) or not text or len(text) > 100_000 or "\x00" in text:
        raise _Refused("is not a type")
    if not parse:
        return
    key = _digest("type", text)
    if _known(key):
        return
    if not (_type_parses(text) if len(text) <= _MEMO_CHARS else _parses_as_type(text)):
        raise _Refused(f"type {text[:80]!r} does not parse")
    _accept(key)


def _parses_as_type(text: str) -> bool:
    import duckdb

    try:
        sql_parser().sqltype(text)
    except duckdb.CatalogException:  # a user type: its name alone parses
        return re.fullmatch(rf"{_QUALIFIED}(?:\[[0-9]*\])*", text) is not None
    except (duckdb.Error, ValueError, TypeError, RuntimeError):
        return False
    return True


_type_parses = lru_cache(maxsize=1024)(_parses_as_type)


def check_version(value: object, *, optional: bool = False) -> None:
    """A version string such as ``1.1.3``, ``v1.0.0`` or ``0.1.0.dev3+g1a2b``."""
    if value is None and optional:
        return
    if not isinstance(value, str) or len(value) > 64 or not _VERSION.fullmatch(value):
        raise _Refused(f"{str(value)[:80]!r} is not a version string")


#: What a database name never holds: a double quote (view and macro SQL is rewritten with
#: it, as a quoted identifier) and control characters or line breaks (it is shown on one
#: line). An apostrophe (``bob's.duckdb``) is an ordinary character of a quoted identifier.
_NAME_FORBIDDEN = re.compile(r"[\"\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_DATABASE_NAME = 255


def check_database_name(value: object) -> None:
    """``database_name``: the catalog name DuckDB gives a database file (its stem, at most
    255 bytes on any filesystem), never empty. DuckDB itself allows double quotes and control
    characters in a file's stem; navsnap refuses them (the writer before it snapshots, a
    reader in a manifest): the name is matched in view and macro SQL, and shown on one line.
    ValueError naming why."""
    if not isinstance(value, str) or not value or len(value) > _MAX_DATABASE_NAME:
        raise _Refused(f"{str(value)[:80]!r} is not a database name (1 to 255 characters)")
    bad = _NAME_FORBIDDEN.search(value)
    if bad is not None:
        raise _Refused(
            f"{value[:80]!r} holds {bad.group()!r}: a database name holds no double quote and "
            "no control character"
        )


def check_rewritten_ddl(kind: str, sql: str, *, at: str, snapshot_id: str) -> None:
    """SQL navsnap rewrote from a manifest's ``ddl[]`` entry ``at`` (the catalog name taken
    out of a view or macro) is still exactly one CREATE of ``kind``, as :func:`check_ddl`
    checks the recorded text: IntegrityError naming the field otherwise. Nothing built from
    manifest text runs unchecked."""
    try:
        check_ddl(kind, sql)
    except ValueError as exc:
        raise IntegrityError(
            f"manifest {snapshot_id}: field {at} is refused once its catalog name is "
            f"rewritten: {exc}",
            snapshot_id=snapshot_id,
            hint="the manifest does not fit the snapshot format; it is not used",
        ) from None


def _str(value: object) -> None:
    if not isinstance(value, str) or "\x00" in value or len(value) > 10_000:
        raise _Refused("is not a string")


def _count(value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise _Refused(f"{str(value)[:40]!r} is not a non-negative integer")


def _shallow(value: object, depth: int = 0) -> None:
    """Free-form JSON (aggregates, configuration) nests at most ``_MAX_DEPTH`` levels."""
    if depth > _MAX_DEPTH:
        raise _Refused(f"nests deeper than {_MAX_DEPTH} levels")
    if isinstance(value, dict):
        for v in value.values():
            _shallow(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _shallow(v, depth + 1)


def _column(name: object, type_: object, parse: bool) -> None:
    _str(name)
    check_type(type_, parse=parse)


def _encoding(column: str, encoding: str, names: list[str]) -> None:
    if column not in names or encoding != "text":
        raise _Refused(f"{column[:80]!r}: {encoding[:40]!r} is not a known column encoding")


def table_key(schema: str, name: str) -> str:
    """The key of table (or other object) ``name`` of ``schema``, as a manifest's
    ``tables[].name`` holds it and every listing shows it: ``name`` in schema main, else
    ``schema.name``."""
    return name if schema == "main" else f"{schema}.{name}"


def _table_key(t: TableEntry) -> None:
    """``name`` is the table's key (:func:`table_key`); anything else names a table the entry
    does not hold."""
    _str(t.name)
    want = table_key(t.schema, t.table)
    if t.name != want:
        raise _Refused(f"{t.name[:80]!r} is not the key of table {want[:80]!r}")


def _check_table(t: TableEntry, at: str, fields: list[tuple[str, Any]], parse: bool) -> None:
    fields.append((f"{at}.name", partial(_table_key, t)))
    fields.append((f"{at}.schema", partial(_str, t.schema)))
    fields.append((f"{at}.table", partial(_str, t.table)))
    fields.append(
        (f"{at}.ddl", partial(check_table_ddl, t.ddl, parse=parse, schema=t.schema, table=t.table))
    )
    names: list[str] = []
    for i, (cname, ctype, _nn) in enumerate(t.columns):
        fields.append((f"{at}.columns[{i}]", partial(_column, cname, ctype, parse)))
        names.append(cname)

    def year_column() -> None:
        if t.year_column is not None and t.year_column not in names:
            raise _Refused(f"{str(t.year_column)[:80]!r} is not one of the table's columns")

    fields.append((f"{at}.year_column", year_column))
    for i, dep in enumerate(t.depends_on):
        fields.append((f"{at}.depends_on[{i}]", partial(_str, dep)))
    for i, (col, enc) in enumerate(t.encodings):
        fields.append((f"{at}.encodings[{i}]", partial(_encoding, col, enc, names)))
    for i, p in enumerate(t.partitions):

        def partition(p: Any = p) -> None:
            _count(p.rows)
            _count(p.fingerprint.rows)
            if p.rows != p.fingerprint.rows:  # both count the same rows, always
                raise _Refused(f"rows {p.rows} differ from its fingerprint's {p.fingerprint.rows}")
            if not re.fullmatch(r"-?[0-9]{1,60}", p.fingerprint.hash_sum):
                raise _Refused("fingerprint hash is not an integer")
            _str(p.object.key)
            _str(p.object.xxh3)
            _count(p.object.size)

        fields.append((f"{at}.partitions[{i}]", partition))


def _check_entry(
    d: DdlEntry, at: str, fields: list[tuple[str, Any]], parse: bool, version: object
) -> None:
    fields.append((f"{at}.schema", lambda: _str(d.schema)))
    fields.append((f"{at}.name", lambda: _str(d.name)))
    fields.append((f"{at}.sql", lambda: check_ddl(d.kind, d.sql, parse=parse)))
    if d.used is not False:
        fields.append((f"{at}.used", lambda: _check_used(d, parse, version)))


def _check_used(d: DdlEntry, parse: bool, version: object) -> None:
    """``used`` (a restore runs ``nextval`` on the entry's sequence once) is ``true`` on a
    sequence, in a manifest of format version 2 or later (a version 1 reader would ignore
    it), and the entry's SQL creates the very sequence its schema and name say: they name
    the sequence navsnap's ``nextval`` advances."""
    if d.used is not True:
        raise _Refused(f"{str(d.used)[:40]!r} is not true")
    if d.kind != "sequence":
        raise _Refused(f"a {str(d.kind)[:40]} entry is never used, only a sequence")
    if not isinstance(version, int) or version < 2:
        raise _Refused("needs format_version 2")
    if not parse or not isinstance(d.sql, str):
        return
    m = re.match(rf"{_HEAD}SEQUENCE\s+(?P<name>{_QUALIFIED})", d.sql, re.I)
    if m is None:
        raise _Refused("is on no CREATE SEQUENCE")
    if isinstance(d.name, str):  # a name that is no string is refused by its own field
        _creates(
            m.group("name"),
            d.schema if isinstance(d.schema, str) else None,
            d.name,
            noun="sequence",
        )


def _text(value: object) -> None:
    if not isinstance(value, str) or "\x00" in value or len(value) > _MAX_SQL:
        raise _Refused("is not a string")


def _check_comment(c: Comment) -> None:
    if not isinstance(c.on, str) or c.on not in COMMENT_ON:
        raise _Refused(f"{str(c.on)[:40]!r} is not one of {', '.join(COMMENT_ON)}")
    _str(c.schema)
    _str(c.name)
    _text(c.text)
    if c.on == "COLUMN":
        _str(c.column)
    elif c.column is not None:
        raise _Refused(f"a comment on a {c.on} names no column")


#: The snapshot modes (``mode``): per-partition Parquet objects, or one whole database file.
MODES = ("parquet", "file")


def _mode(mode: object, file: FileCopy | None) -> None:
    """``mode`` is known, and ``file`` is present exactly in whole-file mode."""
    if not isinstance(mode, str) or mode not in MODES:
        raise _Refused(f"{str(mode)[:40]!r} is not one of {', '.join(MODES)}")
    if (mode == "file") != (file is not None):
        raise _Refused(
            "is file but the manifest has no file block" if mode == "file"
            else f"is {mode} but the manifest has a file block"
        )  # fmt: skip


def _file_copy(f: FileCopy) -> None:
    """The whole-file block: a known method, a boolean ``compressed``, sizes and digests of
    their forms, and an object key ``objects/<h[:2]>/<h>.duckdb`` (``.duckdb.zst`` exactly
    when compressed) whose digest is the object's recorded xxh3-128."""
    from navsnap.store import layout

    if not isinstance(f.method, str) or f.method not in ("reflink", "copy"):
        raise _Refused(f"method {str(f.method)[:40]!r} is not reflink or copy")
    if not isinstance(f.compressed, bool):
        raise _Refused(f"compressed {str(f.compressed)[:40]!r} is not true or false")
    _count(f.raw_size)
    _count(f.object.size)
    if not isinstance(f.raw_xxh3, str) or not _HEX32.fullmatch(f.raw_xxh3):
        raise _Refused("raw_xxh3 is not an xxh3-128 digest")
    if not isinstance(f.object.xxh3, str) or not _HEX32.fullmatch(f.object.xxh3):
        raise _Refused("object.xxh3 is not an xxh3-128 digest")
    try:
        key = layout.parse_object_key(f.object.key)
    except (ValueError, TypeError, AttributeError):
        raise _Refused(f"object.key {str(f.object.key)[:80]!r} is not an object key") from None
    want = "duckdb.zst" if f.compressed else "duckdb"
    if key.digest != f.object.xxh3 or key.ext != want:
        raise _Refused(
            f"object.key {f.object.key[:80]!r} is not objects/<xxh3>.{want} "
            f"(compressed is {str(f.compressed).lower()})"
        )


def _in_file(obj: ObjectRef, f: FileCopy) -> None:
    """In whole-file mode every partition points at the file object."""
    if obj != f.object:
        raise _Refused("is not the file object (a whole-file snapshot has no other)")


def _database_id(value: object) -> None:
    """Absent (None), or a file stem: a non-empty string with no path separator."""
    if value is None:
        return
    _str(value)
    if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
        raise _Refused("is not a database file's name")


def check_manifest(manifest: Manifest, *, source: str = "manifest", sql: bool = True) -> None:
    """Refuse ``manifest`` (IntegrityError naming the field) unless every field fits.

    ``sql`` False checks the SQL texts (each DDL, each column type) only for being strings:
    whether each is exactly one CREATE of its kind, and each type parses, needs DuckDB's
    parser. Only a caller that neither executes nor shows the manifest's SQL may pass it;
    :meth:`~navsnap.manifest.Manifest.sql_checked`, which every consumer of that SQL calls
    first, then runs every check.
    """
    m = manifest
    fields: list[tuple[str, Any]] = [
        ("navsnap_version", lambda: check_version(m.navsnap_version)),
        ("duckdb_version", lambda: check_version(m.duckdb_version)),
        ("storage_version", lambda: check_version(m.storage_version, optional=True)),
        ("snapshot_id", lambda: _str(m.snapshot_id)),
        ("run_id", lambda: _str(m.run_id)),
        ("database_name", lambda: check_database_name(m.database_name)),
        ("database_id", lambda: _database_id(m.database_id)),
        ("year_column", lambda: _str(m.year_column)),
        ("mode", lambda: _mode(m.mode, m.file)),
        ("created_at", lambda: _str(m.created_at)),
    ]

    def year() -> None:
        if not isinstance(m.year, int) or isinstance(m.year, bool):
            raise _Refused("is not an integer")

    fields.append(("year", year))
    for name in ("validation", "checks", "timings"):

        def mapping(v: object = getattr(m, name)) -> None:
            if not isinstance(v, dict):
                raise _Refused("is not an object")
            _shallow(v)

        fields.append((name, mapping))
    fields.append(("config", lambda: _shallow(m.config.to_dict())))
    if m.parent is not None:
        fields.append(("parent", lambda: _str(m.parent)))
    for i, t in enumerate(m.tables):
        _check_table(t, f"tables[{i}]", fields, sql)
    for i, d in enumerate(m.ddl):
        _check_entry(d, f"ddl[{i}]", fields, sql, m.format_version)
    for i, c in enumerate(m.comments):
        fields.append((f"comments[{i}]", partial(_check_comment, c)))
    if m.file is not None:
        fields.append(("file", partial(_file_copy, m.file)))
        for i, t in enumerate(m.tables):
            for j, p in enumerate(t.partitions):
                fields.append(
                    (f"tables[{i}].partitions[{j}].object", partial(_in_file, p.object, m.file))
                )
    if m.hot is not None:
        hot = m.hot

        def hot_copy() -> None:
            if hot.method not in ("reflink", "copy") or hot.compression not in ("none", "zstd"):
                raise _Refused("names an unknown method or compression")
            if hot.keep < 1 or hot.raw_size < 0 or hot.object.size < 0:
                raise _Refused("has a negative size or a keep below 1")
            if not _HEX32.fullmatch(hot.raw_xxh3):
                raise _Refused("raw_xxh3 is not an xxh3-128 digest")

        fields.append(("hot", hot_copy))
        fields.append(
            ("hot.storage_version", lambda: check_version(hot.storage_version, optional=True))
        )
    for name, check in fields:
        try:
            check()
        except (_Refused, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise IntegrityError(
                f"{source}: field {name} is refused: {exc}",
                path=source,
                snapshot_id=m.snapshot_id if isinstance(m.snapshot_id, str) else None,
                hint="the manifest does not fit the snapshot format; it is not used",
            ) from None
