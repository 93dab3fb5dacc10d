"""Foreign keys that reference their own table (``boss INTEGER REFERENCES e (id)``).

Two things set such a table apart from every other:

* DuckDB checks a FOREIGN KEY against the rows already in the table when a statement
  starts, not against the rows the same statement inserts: on every release from 1.0 to 2.0
  ``INSERT INTO e VALUES (1, NULL), (2, 1)`` fails. So its rows go back in an order where the
  rows a row references come first, one statement per level (:func:`ready_condition`). Such
  an order always exists: DuckDB refuses a row that references itself, and an UPDATE that
  would close a cycle (measured on 1.0, 1.1, 1.4, 1.5 and 2.0).
* Before 2.0, ``duckdb_tables().sql`` leaves the constraint out, writing an empty item in
  its place (``CREATE TABLE e(id INTEGER PRIMARY KEY, boss INTEGER, );``), which DuckDB
  accepts and runs as a table without the key. navsnap writes the clause back from
  ``duckdb_constraints()`` (:func:`complete_sql`), which names the referenced columns from
  1.1; under 1.0 the table is refused at checkpoint (:func:`lost_constraints`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from navsnap import engine
from navsnap.catalog import qualified, quote_ident

__all__ = [
    "SelfReference",
    "complete_sql",
    "lost_constraints",
    "ready_condition",
    "self_references",
]


@dataclass(frozen=True)
class SelfReference:
    """One FOREIGN KEY of a table that references the same table."""

    columns: tuple[str, ...]
    referenced: tuple[str, ...]

    def clause(self, schema: str, table: str) -> str:
        """The constraint as a CREATE TABLE item (the table named as DuckDB 2.0 does)."""
        cols = ", ".join(map(quote_ident, self.columns))
        refs = ", ".join(map(quote_ident, self.referenced))
        target = quote_ident(table) if schema == "main" else qualified(schema, table)
        return f"FOREIGN KEY ({cols}) REFERENCES {target}({refs})"


def self_references(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[SelfReference]:
    """The FOREIGN KEYs of ``schema.table`` in ``con``'s current database that reference
    the table itself, in constraint order. Empty under a DuckDB that does not name the
    referenced columns (1.0): :func:`lost_constraints` then refuses the table."""
    if not engine.FK_REFERENCED_COLUMNS:
        return []
    rows = con.execute(
        "SELECT constraint_column_names, referenced_column_names FROM duckdb_constraints() "
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
        "AND constraint_type = 'FOREIGN KEY' AND referenced_table = ? "
        "ORDER BY constraint_index",
        [schema, table, table],
    ).fetchall()
    return [SelfReference(tuple(cols), tuple(refs)) for cols, refs in rows if cols and refs]


def _items(sql: str) -> tuple[str, list[str], str] | None:
    """``sql`` (a CREATE TABLE as DuckDB writes it) cut into the text up to its column
    list, the list's top-level items (as written, spaces included) and the rest; None when
    there is no column list. Quoted names and string literals are skipped whole."""
    depth = 0
    quote: str | None = None
    start = last = -1
    items: list[str] = []
    i = 0
    while i < len(sql):
        ch = sql[i]
        if quote is not None:
            if ch == quote:
                if sql[i + 1 : i + 2] == quote:  # a doubled quote inside the quotes
                    i += 2
                    continue
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
            if depth == 1 and start < 0:
                start = last = i + 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and start >= 0:
                items.append(sql[last:i])
                return sql[:start], items, sql[i:]
        elif ch == "," and depth == 1 and start >= 0:
            items.append(sql[last:i])
            last = i + 1
        i += 1
    return None


def lost_constraints(sql: str) -> int:
    """How many items of the column list of ``sql`` are empty: constraints DuckDB left out
    of its own text of the table (before 2.0, a FOREIGN KEY that references the table)."""
    cut = _items(sql)
    return 0 if cut is None else sum(1 for item in cut[1] if not item.strip())


def complete_sql(sql: str, schema: str, table: str, refs: Sequence[SelfReference]) -> str:
    """``sql`` with each empty item filled with the table's self-references, in order; ``sql``
    itself when nothing is missing or the counts do not match (the snapshot then refuses it:
    :func:`lost_constraints`)."""
    if engine.SELF_REFERENCE_IN_SQL or not refs:
        return sql
    cut = _items(sql)
    if cut is None:
        return sql
    head, items, tail = cut
    empty = [i for i, item in enumerate(items) if not item.strip()]
    if len(empty) != len(refs):
        return sql
    for i, ref in zip(empty, refs, strict=True):
        items[i] = " " + ref.clause(schema, table)
    return head + ",".join(items) + tail


def ready_condition(refs: Sequence[SelfReference], *, row: str, target: str) -> str:
    """SQL true for a row (alias ``row``) every self-reference of which is met by the rows
    already in ``target`` (or is NULL in some column, which DuckDB does not check)."""
    conds = []
    for ref in refs:
        nulls = " OR ".join(f"{row}.{quote_ident(c)} IS NULL" for c in ref.columns)
        match = " AND ".join(
            f"navsnap_x.{quote_ident(r)} = {row}.{quote_ident(c)}"
            for c, r in zip(ref.columns, ref.referenced, strict=True)
        )
        conds.append(f"({nulls} OR EXISTS (SELECT 1 FROM {target} AS navsnap_x WHERE {match}))")
    return " AND ".join(conds)
