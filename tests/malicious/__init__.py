"""A malicious-store corpus: forged manifests, as a writer of a shared store could make them.

Each case is a name, a mutation of the newest manifest's JSON (a dict, changed in place, or
raw bytes returned to replace the file) and whether a reader must refuse it (exit 8) or may
use it because nothing in it is ever executed. Mutations write the manifest back *sealed*:
the integrity hash recomputed, as anyone can (xxh3 is unkeyed), so the manifest is refused for
what it says, not for a bad hash.

``{canary}`` in a payload is a path that must never be written; ``{secret}`` a local file
that must never be read into a database.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Mutation = Callable[[dict[str, Any]], bytes | None]

COPY_TO = "COPY (SELECT 42) TO '{canary}'"


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Mutation
    refused: bool = True  # every reading command exits 8 on it (or reports it, verify: 14)


def _set(path: str, value: Any) -> Mutation:
    """Set a field by a dotted path (``tables.0.columns.1.1``)."""

    def mutate(m: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = m
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = copy.deepcopy(value)
        else:
            node[last] = copy.deepcopy(value)
        return None

    return mutate


def ddl_mutation(kind: str, sql: str, name: str = "evil") -> Mutation:
    """A mutation that appends one DDL entry (``sql`` as given) to the manifest."""
    return _ddl(kind, sql, name)


def _ddl(kind: str, sql: str, name: str = "evil") -> Mutation:
    def mutate(m: dict[str, Any]) -> None:
        m["ddl"].append({"kind": kind, "schema": "main", "name": name, "sql": sql})

    return mutate


def _append_table_ddl(extra: str) -> Mutation:
    def mutate(m: dict[str, Any]) -> None:
        m["tables"][0]["ddl"] = m["tables"][0]["ddl"] + extra

    return mutate


def _raw(data: bytes) -> Mutation:
    return lambda _m: data


def _checks_in_config(m: dict[str, Any]) -> None:
    m["config"]["values"]["checks"] = {
        "evil": COPY_TO,
        "stolen": "SELECT * FROM read_text('{secret}')",
    }
    m["checks"] = {"evil": 1, "stolen": "x"}


def _catalog_rewrite(name: str) -> Mutation:
    """A ``database_name`` with a quote, and views that the rewrite of the catalog name (a
    restore under another name, views over Parquet) would once have turned into two
    statements: ``"foo a".x.y`` lost ``a".`` and the comment that hid the COPY with it."""

    def mutate(m: dict[str, Any]) -> None:
        m["database_name"] = name
        m["ddl"].append(
            {"kind": "view", "schema": "main", "name": "foo x.y -- ",
             "sql": 'CREATE VIEW "foo x.y -- " AS SELECT 1 AS k;'}
        )  # fmt: skip
        m["ddl"].append(
            {"kind": "view", "schema": "main", "name": "evil",
             "sql": f'CREATE VIEW evil AS SELECT * FROM "foo {name}.x.y -- " ; {COPY_TO}'}
        )  # fmt: skip

    return mutate


def _deep(depth: int) -> bytes:
    return b'{"format_version": 1, "validation": ' + b"[" * depth + b"]" * depth + b"}"


CASES: list[Case] = [
    # --- injected DDL (issue 13)
    Case("view-is-copy-to", _ddl("view", COPY_TO)),
    Case(
        "schema-is-ctas-read-text",
        _ddl("schema", "CREATE TABLE main.stolen AS SELECT * FROM read_text('{secret}')"),
    ),
    Case("schema-is-attach", _ddl("schema", "ATTACH '{canary}' AS evil")),
    Case("macro-is-install", _ddl("macro", "INSTALL httpfs")),
    Case(
        "type-enum-from-file",
        _ddl("type", "CREATE TYPE main.evil AS ENUM (SELECT content FROM read_text('{secret}'))"),
    ),
    Case("view-two-statements", _ddl("view", "CREATE VIEW main.evil AS SELECT 1; " + COPY_TO)),
    Case("index-then-copy", _ddl("index", "CREATE INDEX evil ON people(person_id);" + COPY_TO)),
    Case("sequence-with-subquery", _ddl("sequence", "CREATE SEQUENCE evil START (SELECT 1)")),
    Case("ddl-kind-secret", _ddl("secret", "CREATE SECRET evil (TYPE s3, KEY_ID 'x', SECRET 'y')")),
    Case(
        "ddl-kind-table",
        _ddl("table", "CREATE TABLE main.stolen AS SELECT * FROM read_text('{secret}')"),
    ),
    Case("table-ddl-second-statement", _append_table_ddl(" " + COPY_TO + ";")),
    Case(
        "table-ddl-ctas",
        _set(
            "tables.0.ddl",
            "CREATE TABLE dim_region(region_id, name) AS "
            "SELECT 1, content FROM read_text('{secret}');",
        ),
    ),
    Case("table-ddl-is-copy", _set("tables.0.ddl", COPY_TO)),
    Case("table-ddl-unparsable", _set("tables.0.ddl", "CREATE TABLE (((")),
    Case("table-ddl-other-table", _set("tables.0.ddl", "CREATE TABLE people(x INTEGER);")),
    # --- types and versions that end up inside generated SQL
    Case(
        "column-type-closes-cast",
        _set(
            "tables.0.columns.0.1",
            "INTEGER) AS x FROM (SELECT 1)); " + COPY_TO + "; SELECT CAST(1 AS INTEGER",
        ),
    ),
    Case("column-type-malformed", _set("tables.0.columns.0.1", "NOT A TYPE(((")),
    Case("column-type-empty", _set("tables.0.columns.0.1", "")),
    Case("storage-version-injection", _set("storage_version", "v1.0.0'); " + COPY_TO + "; --")),
    Case("duckdb-version-injection", _set("duckdb_version", "1.0.0'; " + COPY_TO)),
    Case("navsnap-version-newline", _set("navsnap_version", "0.1.0\nforged: yes")),
    Case("year-column-not-a-column", _set("tables.2.year_column", 'nope"; DROP TABLE people; --')),
    Case("encoding-unknown", _set("tables.0.encodings", {"region_id": "sql"})),
    # --- the catalog name, which rewrites view and macro SQL under another name
    Case("database-name-quote-rewrites-view", _catalog_rewrite('a"')),
    Case("database-name-newline", _set("database_name", "simulation\nforged: yes")),
    Case("database-name-empty", _set("database_name", "")),
    # --- wrong JSON types in fields
    Case("tables-is-string", _set("tables", "abc")),
    Case("tables-is-object", _set("tables", {"a": 1})),
    Case("ddl-is-object", _set("ddl", {"kind": "view"})),
    Case("ddl-entry-is-list", _set("ddl.0", ["view", "main", "v", "SELECT 1"])),
    Case("columns-is-number", _set("tables.0.columns", 5)),
    Case("column-name-is-number", _set("tables.0.columns.0.0", 7)),
    Case("table-name-is-list", _set("tables.0.name", ["a"])),
    Case("rows-is-string", _set("tables.0.partitions.0.rows", "many")),
    Case("rows-negative", _set("tables.0.partitions.0.rows", -1)),
    Case("object-is-null", _set("tables.0.partitions.0.object", None)),
    Case("size-is-float", _set("tables.0.partitions.0.object.size", 1.5)),
    Case("year-is-string", _set("year", "2026")),
    Case("config-is-list", _set("config", [])),
    Case("config-values-is-string", _set("config.values", "x")),
    Case("validation-is-list", _set("validation", [1, 2])),
    Case("fingerprint-is-object", _set("tables.0.partitions.0.fingerprint", {"rows": 1})),
    Case("format-version-is-string", _set("format_version", "1")),
    # --- huge values and deep nesting
    Case("rows-huge", _set("tables.0.partitions.0.rows", 10**400)),
    Case("name-huge", _set("tables.0.name", "x" * 200_000)),
    Case("nul-in-name", _set("tables.0.table", "dim\x00region")),
    Case("deep-nesting", _raw(_deep(100_000))),
    Case("deep-nesting-sealed", _set("validation", {"a": json.loads("[" * 200 + "]" * 200)})),
    Case(
        "deep-nesting-in-config", _set("config.identity", {"a": json.loads("[" * 200 + "]" * 200)})
    ),
    Case("not-an-object", _raw(b"[1, 2, 3]")),
    Case("not-json", _raw(b"\xff\xfe{{{")),
    Case("empty", _raw(b"")),
    # --- content that is used, but never executed
    Case("check-sql-in-config", _checks_in_config, refused=False),
]
