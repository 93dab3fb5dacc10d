"""Restore, step 1: plan. What a restore would do, changing nothing.

A **full** restore rebuilds the database from the store alone; a **delta** restore rewrites
only the partitions of a live database that differ from the snapshot (decided by
:mod:`navsnap.compare`); **none** when the database already matches; **file** for a
whole-file snapshot.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from navsnap import engine
from navsnap.catalog import (
    CatalogName,
    TableInfo,
    catalog_names,
    database_name,
    list_comments,
    list_macros,
    list_objects,
    list_tables,
)
from navsnap.dbfile import raise_if_in_use
from navsnap.errors import DatabaseError, RestoreError, UsageError, cause
from navsnap.manifest import Manifest, TableEntry
from navsnap.restore.actions import PartitionAction, RestorePlan
from navsnap.store import Store

if TYPE_CHECKING:
    from navsnap.compare import Mismatch

__all__ = ["PartitionAction", "RestorePlan", "plan_restore"]


def _selected(manifest: Manifest, tables: Sequence[str] | None) -> list[TableEntry]:
    if not tables:
        return list(manifest.tables)
    names = {t.name for t in manifest.tables}
    unknown = [t for t in tables if t not in names]
    if unknown:
        raise UsageError(
            f"table(s) {', '.join(unknown)} are not in snapshot {manifest.snapshot_id}",
            hint="tables in it: " + ", ".join(sorted(names)),
        )
    return [t for t in manifest.tables if t.name in set(tables)]


def plan_restore(
    store: Store,
    manifest: Manifest,
    *,
    db_path: str | os.PathLike[str],
    to: str | os.PathLike[str] | None = None,
    tables: Sequence[str] | None = None,
    allow_delta: bool = True,
    con: duckdb.DuckDBPyConnection | None = None,
) -> RestorePlan:
    """What a restore would do, changing nothing.

    ``con``: a connection already open on the target (in place, no ``.wal``), read instead of
    opening it read-only; the caller closes it (a delta may then be applied on it)."""
    manifest.sql_checked()  # a restore executes its DDL; a delta plan compares it with the live
    target = Path(to if to is not None else db_path)
    entries = _selected(manifest, tables)
    names = tuple(e.name for e in entries)
    if target.is_dir():
        raise DatabaseError(
            f"database path {str(target)!r} is a directory", hint="pass a file path"
        )

    def full(reason: str) -> RestorePlan:
        if tables and to is None and target.exists():
            # A full restore of some tables would swap in a file holding only those.
            raise RestoreError(
                f"cannot restore only {', '.join(tables)} in place: {reason}",
                hint="restore them --to another path, or restore every table",
            )
        strategy = "file" if manifest.mode == "file" else "full"
        if manifest.mode == "file":
            size = manifest.file.object.size if manifest.file else 0
            acts: tuple[PartitionAction, ...] = (
                PartitionAction("<database file>", None, "load", 0, size),
            )
        else:
            acts = tuple(
                PartitionAction(e.name, p.year, "load", p.rows, p.object.size)
                for e in entries
                for p in e.partitions
            )
        return RestorePlan(
            manifest.snapshot_id, manifest.year, str(target), strategy, reason, acts, (), names
        )

    if manifest.mode == "file":
        if tables:
            raise UsageError(
                "--tables needs a parquet-mode snapshot; this one is a whole-file copy",
                hint="restore it --to another path and copy the tables with SQL",
            )
        return full("whole-file snapshot")
    if not target.exists():
        return full("target is missing")
    if to is not None and not tables:
        return full("restoring to another path")
    if not allow_delta:
        return full("delta restore disabled")
    try:
        analysed = _analyse_live(target, store, manifest, entries, partial=bool(tables), con=con)
    except duckdb.Error as exc:
        raise_if_in_use(exc, target)
        return full(f"target is broken ({cause(exc, width=100)})")
    if isinstance(analysed, str):
        return full(analysed)
    actions, drop_tables, comments, live_catalog = analysed
    changed = any(a.action != "keep" for a in actions) or bool(drop_tables) or bool(comments)
    return RestorePlan(
        manifest.snapshot_id,
        manifest.year,
        str(target),
        "delta" if changed else "none",
        "live database opens with a matching schema",
        tuple(actions),
        drop_tables,
        names,
        comments,
        live_catalog,
    )


def _index_sql(con: duckdb.DuckDBPyConnection, entry: TableEntry) -> list[str]:
    """The explicit indexes of the live table ``entry`` (its keys are in its DDL)."""
    rows = con.execute(
        "SELECT sql FROM duckdb_indexes() WHERE database_name = current_database() "
        "AND schema_name = ? AND table_name = ? AND sql IS NOT NULL",
        [entry.schema, entry.table],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _live_mismatches(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    manifest: Manifest,
    entry: TableEntry,
    info: TableInfo,
) -> list[Mismatch]:
    """The partitions of the live table that differ from the snapshot's, at full strength:
    compared with the manifest's fingerprints, or (another DuckDB's, whose ``hash()``
    differs) with the snapshot's own verified Parquet fingerprinted by the running engine."""
    from navsnap.compare import full_strength, reference_mismatches, table_mismatches
    from navsnap.integrity import fetch_verified
    from navsnap.materialize import local_files

    if full_strength(manifest):
        return table_mismatches(con, manifest, entry, info=info)
    objects = list({p.object.key: p.object for p in entry.partitions}.values())
    fetch_verified(store, manifest, objects)
    with local_files(store, objects) as files:
        return reference_mismatches(con, entry, files, info=info)


def _analyse_live(
    target: Path,
    store: Store,
    manifest: Manifest,
    entries: Sequence[TableEntry],
    *,
    partial: bool,
    con: duckdb.DuckDBPyConnection | None = None,
) -> (
    str
    | tuple[list[PartitionAction], tuple[str, ...], tuple[str, ...], frozenset[CatalogName] | None]
):
    """Per-partition actions for a delta restore, or the reason a full restore is needed.
    ``con``: the target already open (left open), else it is opened read-only here."""
    # Imported here: the plan's types are all ``status`` needs when it answers from the
    # stat cache.
    from navsnap.compare import comment_changes, schema_objects_differ, shape_difference
    from navsnap.materialize import restored_ddl

    own = con is None
    if con is None:
        con = duckdb.connect(str(target), read_only=True)
    try:
        live = {t.key: t for t in list_tables(con, year_column=manifest.year_column)}
        actions: list[PartitionAction] = []
        for entry in entries:
            info = live.get(entry.name)
            if info is None:
                return f"table {entry.name} is missing"
            reason = shape_difference(info, entry)
            if reason is not None:
                return reason
            differ = {
                m.partition: m
                for m in _live_mismatches(con, store, manifest, entry, info)
                if m.partition is not None
            }
            for part in entry.partitions:
                same = part.year not in differ
                actions.append(
                    PartitionAction(
                        entry.name,
                        part.year,
                        "keep" if same else "load",
                        part.rows,
                        0 if same else part.object.size,
                    )
                )
            for key, m in sorted(differ.items()):
                if m.want is None and m.got is not None:
                    actions.append(PartitionAction(entry.name, key, "drop", m.got.rows, 0))
        rewritten = {a.table for a in actions if a.action != "keep"}
        if any(
            engine.cannot_rewrite([e.ddl, *_index_sql(con, e)])
            for e in entries
            if e.name in rewritten
        ):
            return f"DuckDB {engine.VERSION} cannot reload keyed rows in place (1.2 can)"
        comments: tuple[str, ...] = ()
        live_catalog: frozenset[CatalogName] | None = None
        if not partial:
            want = restored_ddl(manifest, catalog=database_name(con))
            macros = list_macros(con)  # one read of duckdb_functions() for both
            objects = list_objects(con, macros=macros)
            if schema_objects_differ(objects, want):
                return "views, macros or sequences differ"
            extra = sorted(set(live) - {e.name for e in entries})
            if extra:
                # Never dropped in place: a full restore keeps the old file, and them, aside.
                return f"table(s) {', '.join(extra)} are not in the snapshot"
            comments = comment_changes(list_comments(con, macros=macros), manifest.comments)
            live_catalog = catalog_names(con, objects=objects)
    finally:
        if own:
            con.close()
    return actions, (), comments, live_catalog
