"""Read a DuckDB database's catalog: tables, DDL in dependency order, fingerprints.

Everything here is read-only. SQL identifiers go through :func:`quote_ident`; values are
bound parameters.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from navsnap import engine
from navsnap.manifest import (
    FINGERPRINT_VERSION,
    GLOBAL,
    NULL_YEAR,
    Comment,
    DdlEntry,
    Fingerprint,
    PartitionKey,
    PartitionKind,
    TableEntry,
)
from navsnap.manifest_check import COMMENT_ON, table_key

__all__ = [
    "GONE",
    "INTEGER_TYPES",
    "NOT_AN_ANSWER",
    "UNANSWERED",
    "CatalogName",
    "Column",
    "Fingerprint",
    "Macro",
    "TableInfo",
    "advance_sequence_sql",
    "catalog_names",
    "column_encoding",
    "comment_sql",
    "database_name",
    "encodings",
    "export_select",
    "fingerprints",
    "integer_column",
    "list_comments",
    "list_macros",
    "list_objects",
    "list_tables",
    "macro_ddl",
    "macros_with_defaults",
    "partition_filter",
    "qualified",
    "quote_ident",
    "quote_literal",
    "row_alias",
    "row_hash_sql",
    "secret_names",
    "sequence_ddl",
    "storage_version",
    "table_info",
    "text_unsafe_columns",
]


def quote_ident(name: str) -> str:
    """Quote one SQL identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """One SQL string literal (for statements that take no bound parameters: ATTACH, COPY)."""
    return "'" + text.replace("'", "''") + "'"


def qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool


@dataclass(frozen=True)
class TableInfo:
    """One base table. ``key`` is ``table`` in schema main, ``schema.table`` elsewhere."""

    schema: str
    name: str
    sql: str
    columns: tuple[Column, ...]
    year_column: str | None
    depends_on: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return table_key(self.schema, self.name)

    @property
    def ref(self) -> str:
        return qualified(self.schema, self.name)

    @functools.cached_property
    def encodings(self) -> dict[str, str]:
        """The columns stored in another form than their type (see :func:`encodings`),
        derived once per table from its column types."""
        return encodings(self.columns)


def entry_columns(entry: TableEntry) -> tuple[Column, ...]:
    """The columns a manifest records for a table."""
    return tuple(Column(n, t, nn) for n, t, nn in entry.columns)


def table_info(entry: TableEntry) -> TableInfo:
    """A manifest's table as this module describes a live one."""
    return TableInfo(
        schema=entry.schema,
        name=entry.table,
        sql=entry.ddl,
        columns=entry_columns(entry),
        year_column=entry.year_column,
        depends_on=entry.depends_on,
    )


def database_name(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def storage_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The storage version tag of the current database file (e.g. 'v1.0.0'), if known."""
    try:
        row = con.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() "
            "WHERE database_name = current_database()"
        ).fetchone()
    except duckdb.Error:
        return None
    return None if row is None else engine.storage_tag(row[0])


def _fk_dependencies(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], set[str]]:
    rows = con.execute(
        f"SELECT * FROM (SELECT schema_name, table_name, {engine.FK_REFERENCED_TABLE} AS ref "
        "FROM duckdb_constraints() WHERE database_name = current_database() "
        "AND constraint_type = 'FOREIGN KEY') WHERE ref IS NOT NULL"
    ).fetchall()
    deps: dict[tuple[str, str], set[str]] = {}
    for schema, table, ref in rows:
        deps.setdefault((schema, table), set()).add(str(ref))
    return deps


def list_tables(con: duckdb.DuckDBPyConnection, *, year_column: str) -> list[TableInfo]:
    """Every persistent base table of the current database, referenced tables first."""
    tables = con.execute(
        "SELECT schema_name, table_name, sql FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT internal AND NOT temporary "
        "ORDER BY table_oid"
    ).fetchall()
    cols = con.execute(
        "SELECT schema_name, table_name, column_name, data_type, NOT is_nullable "
        "FROM duckdb_columns() WHERE database_name = current_database() AND NOT internal "
        "ORDER BY schema_name, table_name, column_index"
    ).fetchall()
    by_table: dict[tuple[str, str], list[Column]] = {}
    for schema, table, name, dtype, not_null in cols:
        by_table.setdefault((schema, table), []).append(Column(name, dtype, bool(not_null)))
    deps = _fk_dependencies(con)
    from navsnap.selfref import complete_sql, self_references  # it builds on this module

    infos: list[TableInfo] = []
    for schema, table, sql in tables:
        columns = tuple(by_table.get((schema, table), []))
        has_year = any(c.name == year_column for c in columns)
        if not engine.SELF_REFERENCE_IN_SQL and table in deps.get((schema, table), ()):
            # DuckDB before 2.0 leaves a key referencing its own table out of this text.
            sql = complete_sql(sql, schema, table, self_references(con, schema, table))
        infos.append(
            TableInfo(
                schema=schema,
                name=table,
                sql=sql,
                columns=columns,
                year_column=year_column if has_year else None,
                depends_on=tuple(sorted(deps.get((schema, table), set()))),
            )
        )
    return _topo_tables(infos)


def _topo_tables(infos: list[TableInfo]) -> list[TableInfo]:
    """Order tables so that a table comes after the tables its foreign keys reference."""
    remaining = list(infos)
    done: set[str] = set()
    ordered: list[TableInfo] = []
    while remaining:
        progress = False
        for info in list(remaining):
            if all(d in done or d == info.name for d in info.depends_on):
                ordered.append(info)
                done.add(info.name)
                remaining.remove(info)
                progress = True
        if not progress:  # a cycle cannot be declared in DuckDB; keep the catalog order
            ordered.extend(remaining)
            break
    return ordered


def sequence_ddl(
    schema: str,
    name: str,
    *,
    start: int,
    minimum: int,
    maximum: int,
    increment: int,
    cycle: bool,
    last_value: int | None,
) -> DdlEntry:
    """The manifest entry of a sequence, so that a restore gives back where it stands.

    A sequence that has handed out values is created at the value it handed out last
    (``START <last_value>``), and a restore then calls ``nextval`` on it once
    (``used``): its ``currval`` and ``last_value`` are the original's, and so is its next
    ``nextval``, up to the error of a sequence that has handed out its last value (NO CYCLE,
    at MAXVALUE or MINVALUE, the BIGINT limits included), which no START can spell. One that
    has handed out none is created at its START, as every navsnap wrote sequences before.
    """
    used = last_value is not None
    begin = last_value if last_value is not None else start
    sql = (
        f"CREATE SEQUENCE {qualified(schema, name)} INCREMENT BY {increment} "
        f"MINVALUE {minimum} MAXVALUE {maximum} START {begin} {'CYCLE' if cycle else 'NO CYCLE'};"
    )
    return DdlEntry("sequence", schema, name, sql, used=used)


def advance_sequence_sql(entry: DdlEntry) -> str:
    """The statement a restore runs after creating a ``used`` sequence (:func:`sequence_ddl`):
    one ``nextval`` on the entry's own sequence, named here from its schema and name."""
    return f"SELECT nextval({quote_literal(qualified(entry.schema, entry.name))})"


@dataclass(frozen=True)
class Macro:
    """One user macro as ``duckdb_functions()`` lists it (one row per overload)."""

    schema: str
    name: str
    kind: str  # "macro" | "table_macro"
    parameters: tuple[str, ...]
    definition: str
    oid: int
    comment: str | None
    #: Each parameter's declared type, None where it has none (every parameter before 1.4,
    #: which has no typed parameters; DuckDB lists a user type by its definition).
    parameter_types: tuple[str | None, ...]


def list_macros(con: duckdb.DuckDBPyConnection) -> list[Macro]:
    """The current database's macros: one pass over ``duckdb_functions()``, which lists
    every built-in function too (~20 ms), shared by :func:`list_objects` and
    :func:`list_comments` when a caller needs both (a snapshot reads its catalog once)."""
    return [
        Macro(
            str(schema),
            str(name),
            str(ftype),
            tuple(params),
            str(definition),
            int(oid),
            text,
            tuple(None if t is None else str(t) for t in types or [None] * len(params)),
        )
        for schema, name, ftype, params, definition, oid, text, types in con.execute(
            "SELECT schema_name, function_name, function_type, parameters, macro_definition, "
            "function_oid, comment, parameter_types FROM duckdb_functions() "
            "WHERE database_name = current_database() AND NOT internal "
            "AND function_type IN ('macro', 'table_macro')"
        ).fetchall()
    ]


def macro_ddl(overloads: Sequence[Macro]) -> str:
    """One ``CREATE MACRO`` for a macro and every overload of it (``duckdb_functions()``
    lists each overload as a row of its own; DuckDB has them from 1.1), each parameter with
    its declared type (from 1.4). A macro of one overload without types is written as navsnap
    always wrote it, so a database restored from an older snapshot still matches it."""
    first = overloads[0]
    table = first.kind == "table_macro"
    one = len(overloads) == 1

    def overload(m: Macro) -> str:
        args = ", ".join(
            quote_ident(p) if t is None else f"{quote_ident(p)} {t}"
            for p, t in zip(m.parameters, m.parameter_types, strict=True)
        )
        if not table:
            body = f"({m.definition})"
        else:  # overloads need the parentheses; a single one keeps the older spelling
            body = f"TABLE {m.definition}" if one else f"TABLE ({m.definition})"
        return f"({args}) AS {body}"

    return (
        f"CREATE MACRO {qualified(first.schema, first.name)}"
        + ", ".join(overload(m) for m in overloads)
        + ";"
    )


#: How DuckDB refuses a call with more arguments than any overload takes, naming the macro:
#: 1.0-1.3 ``Macro function f(a, b := 5) requires a single positional argument, but 3 ...``
#: (1.0 writes ``'f(a)'``: only the parameters without a default, no ``:=``), with
#: overloads 1.1-1.3 ``Macro "f" does not support 3 parameters.`` and 1.4 on ``Macro f()
#: does not support the supplied arguments.``, each then listing ``Candidate macros:`` one
#: signature per line, defaults spelled ``name := value``.
_POSITIONAL = re.compile(r"requires (a single|\d+) positional argument")
_CANDIDATES = "Candidate macros:"

#: Why a macro could not be asked (see :func:`macros_with_defaults`).
GONE = "the next year's step dropped or replaced it while the snapshot was read"
UNANSWERED = "DuckDB answers a call of that name with something else than its signature"


#: DuckDB errors that say nothing about the statement: the query was interrupted, or memory
#: ran out. Re-raised where a failed statement is otherwise read as an answer (a probe, a
#: store object that does not read).
NOT_AN_ANSWER = (duckdb.InterruptException, duckdb.OutOfMemoryException)


def macros_with_defaults(
    con: duckdb.DuckDBPyConnection, macros: Sequence[Macro]
) -> tuple[list[Macro], list[tuple[Macro, str]]]:
    """The macros of ``macros`` (one per name, for all its overloads) that declare a
    parameter default (``b := 5``), and those that could not be asked, each with why.

    ``duckdb_functions()`` lists a macro's parameters but not their defaults (1.0 to 2.0), so
    :func:`macro_ddl` cannot write them back. DuckDB's own refusal of a call with one
    argument more than any overload takes (``EXPLAIN``: nothing runs) spells the macro's
    signatures, defaults included (:data:`_POSITIONAL`). When the answer is not that refusal
    (a name the parser or binder treats as its own, such as ``ifnull`` or ``unnest``), or the
    macro is gone, it is listed as not asked (:data:`UNANSWERED`, :data:`GONE`). ``con`` must
    hold no transaction of the caller's: under 2.0 a binder error aborts it. Under a
    millisecond for a few macros."""
    defaults: list[Macro] = []
    unasked: list[tuple[Macro, str]] = []
    groups: dict[tuple[str, str, str], list[Macro]] = {}
    for m in macros:
        groups.setdefault((m.schema, m.name, m.kind), []).append(m)
    for (schema, name, kind), overloads in groups.items():
        if all(not m.parameters for m in overloads):
            continue
        n = max(len(m.parameters) for m in overloads) + 1
        call = f"{qualified(schema, name)}({', '.join(['NULL'] * n)})"
        sql = f"EXPLAIN SELECT {'* FROM ' if kind == 'table_macro' else ''}{call}"
        first = overloads[0]
        try:
            con.execute(sql).fetchall()
        except NOT_AN_ANSWER:
            raise
        except duckdb.Error as exc:
            text = str(exc)
            if f"Function with name {name} does not exist" in text:
                unasked.append((first, GONE))
                continue
            text = text.split("\nLINE ", 1)[0]  # DuckDB's echo of the probe's own SQL
            if not text.startswith("Binder Error: Macro") or (
                name not in text and quote_ident(name) not in text  # 2.0 quotes as needed
            ):
                unasked.append((first, UNANSWERED))
                continue
            if _CANDIDATES in text:
                listed = text.split(_CANDIDATES, 1)[1]
                if ":=" in listed:
                    defaults.append(first)
                continue
            positional = _POSITIONAL.search(text)
            if positional is None:
                unasked.append((first, UNANSWERED))
                continue
            signature = text[: positional.start()]
            required = 1 if positional.group(1) == "a single" else int(positional.group(1))
            if ":=" in signature or required < len(first.parameters):
                defaults.append(first)
            continue
        unasked.append((first, UNANSWERED))  # it bound: some other function answered
    return defaults, unasked


def list_sequences(con: duckdb.DuckDBPyConnection) -> list[DdlEntry]:
    """The current database's sequences, each as it stands now (:func:`sequence_ddl`).

    A sequence's value is not transactional in DuckDB: a ``nextval`` by another connection
    shows at once, even inside a transaction begun before it. A snapshot whose export runs
    beside the next year's step therefore reads them before that step starts (every other
    catalog object is seen as of the transaction's start, on every supported release:
    tests/test_snapshot.py)."""
    out: list[DdlEntry] = []
    for row in con.execute(
        "SELECT schema_name, sequence_name, start_value, min_value, max_value, increment_by, "
        "cycle, last_value, sql FROM duckdb_sequences() WHERE database_name = current_database() "
        "AND NOT temporary ORDER BY sequence_oid"
    ).fetchall():
        schema, name, start, lo, hi, inc, cycle, last, sql = row
        last = engine.sequence_last_value(last, sql, inc, minimum=lo, maximum=hi, cycle=bool(cycle))
        out.append(
            sequence_ddl(
                schema,
                name,
                start=start,
                minimum=lo,
                maximum=hi,
                increment=inc,
                cycle=cycle,
                last_value=last,
            )
        )
    return out


def list_objects(
    con: duckdb.DuckDBPyConnection,
    *,
    macros: list[Macro] | None = None,
    sequences: list[DdlEntry] | None = None,
) -> list[DdlEntry]:
    """Schemas, user-defined types, sequences, macros and views in creation order, then
    explicit indexes. ``macros``: :func:`list_macros`, ``sequences``: :func:`list_sequences`,
    when the caller has read them."""
    out: list[DdlEntry] = []
    for (schema,) in con.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = current_database() "
        f"AND NOT internal AND schema_name <> 'main'{engine.USER_SCHEMAS} ORDER BY oid"
    ).fetchall():
        out.append(DdlEntry("schema", schema, schema, f"CREATE SCHEMA {quote_ident(schema)};"))
    for schema, name in con.execute(
        "SELECT schema_name, type_name FROM duckdb_types() "
        "WHERE database_name = current_database() AND NOT internal ORDER BY type_oid"
    ).fetchall():
        # typeof() spells the full definition (an ENUM's labels, a STRUCT's fields) on every
        # DuckDB release; the column types of tables already inline it.
        row = con.execute(f"SELECT typeof(CAST(NULL AS {qualified(schema, name)}))").fetchone()
        assert row is not None
        ddl = f"CREATE TYPE {qualified(schema, name)} AS {row[0]};"
        out.append(DdlEntry("type", schema, name, ddl))
    out.extend(list_sequences(con) if sequences is None else sequences)
    late: list[tuple[int, DdlEntry]] = []
    overloads: dict[tuple[str, str, str, int], list[Macro]] = {}
    for m in list_macros(con) if macros is None else macros:
        overloads.setdefault((m.schema, m.name, m.kind, m.oid), []).append(m)
    for (schema, name, _kind, oid), group in overloads.items():
        late.append((oid, DdlEntry("macro", schema, name, macro_ddl(group))))
    for schema, name, sql, oid in con.execute(
        "SELECT schema_name, view_name, sql, view_oid FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal AND NOT temporary"
    ).fetchall():
        late.append((int(oid), DdlEntry("view", schema, name, sql)))
    out.extend(obj for _oid, obj in sorted(late, key=lambda t: t[0]))
    for schema, name, sql in con.execute(
        "SELECT schema_name, index_name, sql FROM duckdb_indexes() "
        "WHERE database_name = current_database() AND sql IS NOT NULL ORDER BY index_oid"
    ).fetchall():
        out.append(DdlEntry("index", schema, name, sql))
    return out


def comment_sql(comment: Comment, *, clear: bool = False) -> str:
    """``COMMENT ON <on> "schema"."name"[."column"] IS '<text>';`` (``IS NULL`` to ``clear``
    it): navsnap's one spelling of a comment, every name and the text quoted here."""
    if comment.on not in COMMENT_ON or (comment.on == "COLUMN") != (comment.column is not None):
        raise ValueError(f"not a comment navsnap writes: {comment.on!r}")
    target = qualified(comment.schema, comment.name)
    if comment.column is not None:
        target += "." + quote_ident(comment.column)
    text = "NULL" if clear else quote_literal(comment.text)
    return f"COMMENT ON {comment.on} {target} IS {text};"


#: Where each kind of object keeps its comment: (COMMENT ON kind, SQL of schema, name,
#: comment). Every release from 1.0 has these columns (tests/test_catalog_fidelity.py).
_COMMENTED = (
    (
        "TABLE",
        "SELECT schema_name, table_name, comment FROM duckdb_tables() "
        "WHERE database_name = current_database() AND NOT internal AND NOT temporary "
        "AND comment IS NOT NULL ORDER BY table_oid",
    ),
    (
        "VIEW",
        "SELECT schema_name, view_name, comment FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal AND NOT temporary "
        "AND comment IS NOT NULL ORDER BY view_oid",
    ),
    (
        "SEQUENCE",
        "SELECT schema_name, sequence_name, comment FROM duckdb_sequences() "
        "WHERE database_name = current_database() AND NOT temporary "
        "AND comment IS NOT NULL ORDER BY sequence_oid",
    ),
    (
        "TYPE",
        "SELECT schema_name, type_name, comment FROM duckdb_types() "
        "WHERE database_name = current_database() AND NOT internal "
        "AND comment IS NOT NULL ORDER BY type_oid",
    ),
    (
        "INDEX",
        "SELECT schema_name, index_name, comment FROM duckdb_indexes() "
        "WHERE database_name = current_database() AND comment IS NOT NULL ORDER BY index_oid",
    ),
)


def list_comments(
    con: duckdb.DuckDBPyConnection, *, macros: list[Macro] | None = None
) -> list[Comment]:
    """Every comment of the current database (a column's names its table or view).
    ``macros``: :func:`list_macros`, when the caller has read them."""
    out: list[Comment] = []
    for on, sql in _COMMENTED:
        for schema, name, text in con.execute(sql).fetchall():
            out.append(Comment(on, schema, name, text))
    commented = {
        (m.schema, m.name, m.kind, m.comment)
        for m in (list_macros(con) if macros is None else macros)
        if m.comment is not None
    }
    for schema, name, ftype, text in sorted(commented):  # one per macro, not per overload
        on = "MACRO TABLE" if ftype == "table_macro" else "MACRO"
        out.append(Comment(on, schema, name, text))
    for schema, table, column, text in con.execute(
        "SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() AND NOT internal AND comment IS NOT NULL "
        "ORDER BY schema_name, table_name, column_index"
    ).fetchall():
        out.append(Comment("COLUMN", schema, table, text, column))
    return out


#: One object of a database's catalog: (kind, schema, name). Kinds are ``table`` and those of
#: :class:`~navsnap.manifest.DdlEntry`, plus ``database`` (another attached database) and
#: ``secret`` (a secret of the connection), whose schema is empty.
CatalogName = tuple[str, str, str]

#: Databases every connection has: not objects a restore could have added.
_BUILTIN_DATABASES = ("memory", "system", "temp")


def secret_names(con: duckdb.DuckDBPyConnection) -> frozenset[CatalogName]:
    """The secrets ``con`` can see (``duckdb_secrets()``; empty where it cannot be read)."""
    try:
        rows = con.execute("SELECT name FROM duckdb_secrets()").fetchall()
    except duckdb.Error:
        return frozenset()
    return frozenset(("secret", "", str(name)) for (name,) in rows)


def catalog_names(
    con: duckdb.DuckDBPyConnection, *, objects: Iterable[DdlEntry] | None = None
) -> frozenset[CatalogName]:
    """Everything the current database holds, and what the connection has besides it.

    The persistent tables, the objects of :func:`list_objects`, every attached database but
    the current one and the built-in ones, and the connection's secrets: what a restore's
    check compares with the manifest (:func:`navsnap.compare.unlisted_objects`). ``objects``:
    what :func:`list_objects` just returned on ``con`` (its catalog scan is the slow part).
    """
    out: set[CatalogName] = {
        ("table", str(schema), str(name))
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() AND NOT internal AND NOT temporary"
        ).fetchall()
    }
    listed = list_objects(con) if objects is None else objects
    out |= {(d.kind, d.schema, d.name) for d in listed}
    out |= {
        ("database", "", str(name))
        for (name,) in con.execute(
            "SELECT database_name FROM duckdb_databases() "
            "WHERE database_name <> current_database() AND NOT list_contains(?, database_name)",
            [list(_BUILTIN_DATABASES)],
        ).fetchall()
    }
    return frozenset(out | secret_names(con))


#: Types Parquet cannot hold exactly: DuckDB writes HUGEINT and UHUGEINT as DOUBLE, INTERVAL at
#: millisecond precision (and refuses negative ones), TIMETZ normalised to UTC. A column whose
#: type holds one of them, at any depth, is stored as DuckDB's own text of the value.
LOSSY_TYPES = frozenset({"hugeint", "uhugeint", "interval", "time with time zone"})

#: The encoding of a text-encoded column in the manifest (``tables[].encodings``).
TEXT = "text"

_NESTED = frozenset({"list", "array", "struct", "map", "union"})


@functools.cache
def _py_type() -> type:
    """DuckDB's parsed-type class (its module moved between releases: duckdb.typing, sqltypes).
    Looked up on first use: ``duckdb.sqltype`` starts DuckDB's default instance (~0.2 s)."""
    return type(duckdb.sqltype("INTEGER"))


def _type_ids(t: Any) -> set[str]:
    """The ids of parsed type ``t`` and of every type nested in it, at any depth."""
    found = {str(t.id)}
    for child in t.children if str(t.id) in _NESTED else ():
        value = child[1] if isinstance(child, tuple) else child
        if isinstance(value, _py_type()):
            found |= _type_ids(value)
    return found


def _parsed_type(column_type: str) -> Any | None:
    """DuckDB's parse of ``column_type`` (None: a type only the database knows, an ENUM or
    alias). Each short text is parsed once per process: every snapshot of a run lists the
    same columns, and the parse depends only on the text and the running DuckDB."""
    if len(column_type) <= _MEMO_TYPE:
        return _memo_type(column_type)
    return _memo_type.__wrapped__(column_type)


#: Type texts longer than this are parsed every time (a hostile one must not fill memory).
_MEMO_TYPE = 1024


@functools.lru_cache(maxsize=4096)
def _memo_type(column_type: str) -> Any | None:
    try:
        return duckdb.sqltype(column_type)
    except duckdb.Error:
        return None


def column_encoding(column_type: str) -> str | None:
    """``"text"`` when values of ``column_type`` are stored as text, None for plain Parquet
    (a type only the database knows, an ENUM or alias, is never lossy)."""
    parsed = _parsed_type(column_type)
    return TEXT if parsed is not None and _type_ids(parsed) & LOSSY_TYPES else None


def is_nested_type(column_type: str) -> bool:
    parsed = _parsed_type(column_type)
    return parsed is not None and str(parsed.id) in _NESTED


def encodings(columns: Iterable[Column]) -> dict[str, str]:
    """The columns stored in another form than their own type: {column: encoding}."""
    out: dict[str, str] = {}
    for c in columns:
        enc = column_encoding(c.type)
        if enc is not None:
            out[c.name] = enc
    return out


def text_unsafe_columns(con: duckdb.DuckDBPyConnection, table: TableInfo) -> list[Column]:
    """Nested text-encoded columns whose values do not come back exactly from their text.

    DuckDB's text of a scalar HUGEINT, UHUGEINT, INTERVAL or TIMETZ casts back exactly on
    every supported release (tests/test_types.py); the text of a nested value holding one
    of them may not (DuckDB 1.0 and 1.1 do not escape quotes inside nested strings). Those
    columns are checked value by value; a failing cast counts as not exact.
    """
    enc = table.encodings
    bad: list[Column] = []
    for c in table.columns:
        if c.name not in enc or not is_nested_type(c.type):
            continue
        col = quote_ident(c.name)
        try:
            row = con.execute(
                f"SELECT count(*) FROM {table.ref} WHERE hash(CAST(CAST({col} AS VARCHAR) "
                f"AS {c.type})) IS DISTINCT FROM hash({col})"
            ).fetchone()
        except duckdb.Error:
            bad.append(c)
            continue
        if row is not None and row[0]:
            bad.append(c)
    return bad


def export_select(table: TableInfo, key: PartitionKey) -> str:
    """The SELECT a partition is exported with: text-encoded columns cast to VARCHAR."""
    enc = table.encodings
    cols = ", ".join(
        f"CAST({quote_ident(c.name)} AS VARCHAR) AS {quote_ident(c.name)}"
        if c.name in enc
        else quote_ident(c.name)
        for c in table.columns
    )
    return f"SELECT {cols} FROM {table.ref}{partition_filter(table, key)}"


def partition_filter(table: TableInfo, key: PartitionKey) -> str:
    """`` WHERE <year column> = <year>`` in the column's own type (so zone maps prune), or ''."""
    if table.year_column is None or key.is_global:
        return ""
    col = quote_ident(table.year_column)
    if key.kind is PartitionKind.NULL_YEAR:
        return f" WHERE {col} IS NULL"
    coltype = next(c.type for c in table.columns if c.name == table.year_column)
    return f" WHERE {col} = CAST({quote_literal(key.year)} AS {coltype})"


def row_alias(columns: Iterable[Column]) -> str:
    """A relation alias that no column name can shadow (DuckDB names are case-insensitive).

    ``hash(t)`` hashes the whole row only while no column is called ``t``: a column of that
    name shadows the alias, and the fingerprint would then cover that one column. The alias
    is ``t`` unless a column takes it, then ``t_``, ``t__``, ...: fingerprints of tables
    without such a column keep their value.
    """
    taken = {c.name.casefold() for c in columns}
    alias = "t"
    while alias in taken:
        alias += "_"
    return alias


#: Integer column types: their text names one value each (and NULL stays NULL), so grouping
#: on the value and grouping on its text make the same groups.
INTEGER_TYPES = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT"}
)


def integer_column(columns: Iterable[Column], name: str) -> bool:
    """Whether the column ``name`` among ``columns`` has one of :data:`INTEGER_TYPES`."""
    return any(c.name == name and c.type.upper() in INTEGER_TYPES for c in columns)


#: Leaf types with values DuckDB's ``hash()`` (like its ``=``) holds equal although they
#: differ: -0.0 and 0.0 (and NaNs of either sign), ``INTERVAL '1 month'`` and ``'30 days'``.
_IDENTITY_LEAVES = frozenset({"float", "double", "interval"})
_FLOATS = frozenset({"FLOAT", "DOUBLE", "REAL", "FLOAT4", "FLOAT8"})
_COLLATE = re.compile(r"\bCOLLATE\b", re.IGNORECASE)


def _identity_term(column_type: str, col: str, index: int) -> str | None:
    """The identity term of one column (None: its values differ only where ``hash()``
    says so). Zero for every value but the ones ``hash()`` confuses, for the scalar floats
    that most tables hold (their fingerprints keep scheme 1's value)."""
    if column_type.upper() in _FLOATS:
        return (
            f"CASE WHEN signbit({col}) AND ({col} = 0 OR isnan({col})) "
            f"THEN hash({index}, isnan({col})) ELSE 0 END"
        )
    parsed = _parsed_type(column_type)
    if parsed is None or not _type_ids(parsed) & _IDENTITY_LEAVES:
        return None
    # An INTERVAL's text is its months, days and microseconds as stored; a nested value's
    # text spells each float's sign and each interval's fields.
    return f"hash({index}, CAST({col} AS VARCHAR))"


def row_hash_sql(
    columns: Iterable[Column], *, alias: str, ddl: str, scheme: int = FINGERPRINT_VERSION
) -> str:
    """The HUGEINT a row adds to its partition's fingerprint, for rows named ``alias``.

    Scheme 1 is ``hash(row)``. Scheme 2 adds an *identity term* per column whose type holds
    values that DuckDB's ``hash()`` and ``=`` hold equal but which are not the same value
    (:data:`_IDENTITY_LEAVES`), and, under an engine whose ``hash()`` follows a column's
    collation (:data:`navsnap.engine.HASH_FOLLOWS_COLLATION`), hashes the VARCHAR columns of
    a table declared with a COLLATE byte for byte (``COLLATE C``): ``'Alice'`` and
    ``'alice'`` differ in a NOCASE column. The terms are zero for every other value, so a
    table without such values has the same fingerprint under both schemes.
    """
    cols = tuple(columns)
    t = quote_ident(alias)
    if scheme < 2:
        return f"hash({t})::HUGEINT"
    base = f"hash({t})"
    if engine.HASH_FOLLOWS_COLLATION and _COLLATE.search(ddl):
        fields = ", ".join(
            f"{t}.{quote_ident(c.name)}" + (" COLLATE C" if c.type.upper() == "VARCHAR" else "")
            for c in cols
        )
        base = f"hash(row({fields}))"  # hashes as hash(t) does, collations aside
    terms = [
        term
        for i, c in enumerate(cols)
        if (term := _identity_term(c.type, f"{t}.{quote_ident(c.name)}", i)) is not None
    ]
    return f"{base}::HUGEINT" + "".join(f" + ({x})::HUGEINT" for x in terms)


def fingerprint_sql(
    source: str,
    *,
    columns: Iterable[Column],
    year_column: str | None,
    where: str = "",
    ddl: str = "",
    scheme: int = FINGERPRINT_VERSION,
) -> str:
    """SQL giving (partition, rows, hash_sum) for ``source`` (a table ref or subquery).

    The fingerprint is ``count(*)`` and the sum of :func:`row_hash_sql` over the rows:
    independent of row order, sensitive to every value of every column and to duplicated
    rows. ``where`` (`` WHERE ...``) leaves rows out of a year-scoped table's groups; ``ddl``
    is the table's CREATE TABLE (its collations), ``scheme`` the fingerprint version.
    """
    cols = tuple(columns)
    alias = row_alias(cols)
    t = quote_ident(alias)
    h = row_hash_sql(cols, alias=alias, ddl=ddl, scheme=scheme)
    if year_column is None:
        return (
            f"SELECT NULL AS part, count(*) AS n, coalesce(sum({h}), 0)::VARCHAR "
            f"FROM {source} AS {t}"
        )
    yc = quote_ident(year_column)
    if integer_column(cols, year_column):
        # Grouped on the integer, its text taken once per group: the same groups and values
        # as grouping on the text, at less cost (about an eighth of a fingerprint at 100k).
        return (
            "SELECT part::VARCHAR AS part, n, h FROM ("
            f"SELECT {t}.{yc} AS part, count(*) AS n, sum({h})::VARCHAR AS h "
            f"FROM {source} AS {t}{where} GROUP BY {t}.{yc})"
        )
    return (
        f"SELECT {t}.{yc}::VARCHAR AS part, count(*) AS n, sum({h})::VARCHAR "
        f"FROM {source} AS {t}{where} GROUP BY ALL"
    )


def fingerprints(
    con: duckdb.DuckDBPyConnection,
    table: TableInfo,
    *,
    source: str | None = None,
    exclude: PartitionKey | None = None,
    scheme: int = FINGERPRINT_VERSION,
) -> dict[PartitionKey, Fingerprint]:
    """Fingerprint per partition of ``table`` (or of ``source``, read as that table), but
    for partition ``exclude`` of a year-scoped table (computed elsewhere), under fingerprint
    version ``scheme``."""
    src = source or table.ref
    where = ""
    if exclude is not None and table.year_column is not None:
        cond = partition_filter(table, exclude).removeprefix(" WHERE ")
        where = f" WHERE NOT coalesce({cond}, false)"
    sql = fingerprint_sql(
        src,
        columns=table.columns,
        year_column=table.year_column,
        where=where,
        ddl=table.sql,
        scheme=scheme,
    )
    rows = con.execute(sql).fetchall()
    out: dict[PartitionKey, Fingerprint] = {}
    for part, n, hsum in rows:
        if table.year_column is None:
            key = GLOBAL
        else:
            key = NULL_YEAR if part is None else PartitionKey.of_year(str(part))
        out[key] = Fingerprint(int(n), str(hsum))
    return out


def select_with_types(columns: Iterable[Column], source: str) -> str:
    """``SELECT CAST(c AS type) AS c, ...`` from ``source``: Parquet read as the table types."""
    cols = ", ".join(
        f"CAST({quote_ident(c.name)} AS {c.type}) AS {quote_ident(c.name)}" for c in columns
    )
    return f"(SELECT {cols} FROM {source})"


def column_signature(columns: Iterable[Column], encoded: Mapping[str, str] | None = None) -> str:
    """Columns as one string, for reuse lookups: an object is reused only for the same
    names, types, nullability and storage encodings (objects written before a type was
    text-encoded are never reused for it)."""
    enc = encoded or {}
    return ";".join(
        f"{c.name}:{c.type}:{int(c.not_null)}" + (f":{enc[c.name]}" if c.name in enc else "")
        for c in columns
    )


def parquet_list(paths: Iterable[str]) -> str:
    """A DuckDB list literal of file paths, for read_parquet()."""
    return "[" + ", ".join(quote_literal(p) for p in paths) + "]"
