"""Build DuckDB tables, views and macros from a manifest and its Parquet objects.

The one place that turns a snapshot back into DuckDB objects, in three ways:

* :func:`build_database` — real tables from the manifest's DDL (constraints included) with its
  macros and views, rows inserted from Parquet, then indexes: what a full restore writes;
* :func:`copy_tables` — plain tables created from the Parquet (``CREATE TABLE AS``, cast to
  the recorded column types): what ``verify --deep`` recomputes aggregates over;
* :func:`create_parquet_views` — views over the Parquet objects, nothing copied: what
  ``navsnap sql`` and ``navsnap attach`` give analysts.

:func:`reload_partition` rewrites one partition of a live table (a delta restore). Tables,
macros and views are created together, retried until DuckDB has found their dependency order
(:func:`create_views_and_macros`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence

import duckdb

from navsnap import engine
from navsnap.catalog import (
    NOT_AN_ANSWER,
    TableInfo,
    advance_sequence_sql,
    comment_sql,
    database_name,
    entry_columns,
    parquet_list,
    partition_filter,
    qualified,
    quote_ident,
    select_with_types,
    table_info,
)
from navsnap.errors import IntegrityError, RestoreError, cause
from navsnap.integrity import damaged_hint
from navsnap.manifest import DdlEntry, Manifest, ObjectRef, PartitionKey, TableEntry
from navsnap.manifest_check import check_rewritten_ddl
from navsnap.selfref import ready_condition, self_references
from navsnap.store import Store

__all__ = [
    "build_database",
    "copy_tables",
    "create_parquet_views",
    "create_views_and_macros",
    "generated_columns",
    "load_parquet",
    "local_files",
    "no_autoinstall",
    "reload_partition",
    "restored_ddl",
    "strip_catalog",
    "typed_parquet",
    "view_sql",
]

ProgressFn = Callable[[str, int, int], None]


@contextlib.contextmanager
def local_files(store: Store, objects: Sequence[ObjectRef]) -> Iterator[list[str]]:
    """Local paths of ``objects`` (the objects themselves on a local store, else copies)."""
    with contextlib.ExitStack() as stack:
        yield [str(stack.enter_context(store.local_copy(o.key))) for o in objects]


def generated_columns(con: duckdb.DuckDBPyConnection, table: TableInfo) -> frozenset[str]:
    """The generated columns of ``table`` in ``con``'s current database: DuckDB computes
    their values, and refuses an INSERT that names them.

    Where ``duckdb_columns()`` does not say (before 2.0), a column with a default is
    generated exactly when binding an INSERT into it alone fails with DuckDB's "Cannot insert
    into a generated column"; that is asked on a cursor of its own, in the same database
    (the other columns' defaults bind there), whose failed statement cannot abort ``con``'s
    transaction. Any other error is raised: a column taken for generated would not load."""
    where = (
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
        "AND NOT internal"
    )
    if engine.GENERATED_FLAG:
        rows = con.execute(
            f"SELECT column_name FROM duckdb_columns() {where} AND is_generated",
            [table.schema, table.name],
        ).fetchall()
        return frozenset(str(name) for (name,) in rows)
    rows = con.execute(
        f"SELECT column_name FROM duckdb_columns() {where} AND column_default IS NOT NULL",
        [table.schema, table.name],
    ).fetchall()
    if not rows:
        return frozenset()
    found: set[str] = set()
    probe = con.cursor()
    try:
        probe.execute(f"USE {quote_ident(database_name(con))}")
        for (name,) in rows:
            try:
                probe.execute(f"EXPLAIN INSERT INTO {table.ref} ({quote_ident(name)}) SELECT NULL")
            except duckdb.BinderException as exc:
                if "generated column" not in str(exc):
                    raise
                found.add(str(name))
    finally:
        probe.close()
    return frozenset(found)


def load_parquet(con: duckdb.DuckDBPyConnection, table: TableInfo, files: Sequence[str]) -> None:
    """Append the rows of Parquet ``files`` to ``table``, matching columns by name.

    Generated columns are left to DuckDB, which computes them (the objects hold their values
    for readers without navsnap, and the restore's fingerprint check compares the computed
    ones). A table with a FOREIGN KEY on itself is loaded so that referenced rows come first
    (:mod:`navsnap.selfref`)."""
    if not files:
        return
    generated = generated_columns(con, table)
    cols = ", ".join(quote_ident(c.name) for c in table.columns if c.name not in generated)
    source = f"read_parquet({parquet_list(files)})"
    refs = self_references(con, table.schema, table.name)
    if not refs:
        con.execute(f"INSERT INTO {table.ref} ({cols}) SELECT {cols} FROM {source}")
        return
    # One statement per level: DuckDB checks each row against the rows already there.
    pending, batch = "navsnap_pending", "navsnap_batch"
    ready = ready_condition(refs, row="navsnap_p", target=table.ref)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {pending} AS SELECT {cols} FROM {source}")
    try:
        while True:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {batch} AS "
                f"SELECT rowid AS id FROM {pending} AS navsnap_p WHERE {ready}"
            )
            row = con.execute(f"SELECT count(*) FROM {batch}").fetchone()
            if row is None or row[0] == 0:
                break
            picked = f"rowid IN (SELECT id FROM {batch})"
            con.execute(
                f"INSERT INTO {table.ref} ({cols}) SELECT {cols} FROM {pending} WHERE {picked}"
            )
            con.execute(f"DELETE FROM {pending} WHERE {picked}")
        # Rows no order lets in (none in a database DuckDB wrote): DuckDB's own error.
        con.execute(f"INSERT INTO {table.ref} ({cols}) SELECT {cols} FROM {pending}")
    finally:
        for name in (batch, pending):
            with contextlib.suppress(duckdb.Error):
                con.execute(f"DROP TABLE IF EXISTS temp.main.{name}")


def typed_parquet(entry: TableEntry, files: Sequence[str]) -> str:
    """A subquery reading ``files`` cast to the table's recorded column types."""
    return select_with_types(entry_columns(entry), f"read_parquet({parquet_list(files)})")


# --------------------------------------------------------------------------- full build


def build_database(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    manifest: Manifest,
    entries: Sequence[TableEntry],
    *,
    catalog: str,
    progress: ProgressFn | None = None,
    after_load: Callable[[], None] | None = None,
) -> None:
    """Create ``entries`` in ``con``'s current database as the snapshot had them.

    Schemas, types and sequences; the tables with their constraints, the macros and the
    views, in dependency order; the tables' rows, indexes, then comments. When ``entries``
    is not every table (a partial restore), objects that need a table left out are skipped.
    ``catalog`` is the name the database will be opened under (see
    :func:`create_views_and_macros`).
    """
    manifest.sql_checked()  # its DDL is executed below
    no_autoinstall(con)
    partial = len(entries) != len(manifest.tables)
    for d in manifest.ddl:
        if d.kind in ("schema", "type", "sequence"):
            con.execute(d.sql)
        if d.kind == "sequence" and d.used:
            # Created at the value it handed out last: one nextval hands it out again, so
            # currval, last_value and the next nextval are the original's.
            con.execute(advance_sequence_sql(d))
    # A table's DEFAULT, CHECK or generated column may call a macro, and DuckDB binds it at
    # CREATE, as it binds what a macro or view names (1.4 on, a table macro's too): tables,
    # macros and views are created together, in an order DuckDB accepts.
    create_views_and_macros(
        con,
        manifest,
        only_tables=partial,
        catalog=catalog,
        tables=[(entry.name, entry.ddl) for entry in entries],
    )
    for i, entry in enumerate(entries):
        if progress is not None:
            progress("load", i, len(entries))
        with local_files(store, [p.object for p in entry.partitions]) as files:
            load_parquet(con, table_info(entry), files)
    if progress is not None:
        progress("load", len(entries), len(entries))
    if after_load is not None:
        after_load()
    for d in manifest.ddl:
        if d.kind == "index":
            try:
                con.execute(d.sql)
            except duckdb.Error:
                if not partial:  # a partial restore may lack the index's table
                    raise
    for comment in manifest.comments:
        try:
            con.execute(comment_sql(comment))
        except duckdb.Error:
            if not partial:  # a partial restore may lack the object commented on
                raise


def reload_partition(
    con: duckdb.DuckDBPyConnection,
    store: Store,
    entry: TableEntry,
    key: PartitionKey,
    *,
    load: bool,
) -> None:
    """Delete partition ``key`` of a live table, then (``load``) insert the snapshot's rows."""
    info = table_info(entry)
    con.execute(f"DELETE FROM {info.ref}{partition_filter(info, key)}")
    part = entry.partition(key)
    if load and part is not None:
        with local_files(store, [part.object]) as files:
            load_parquet(con, info, files)


# --------------------------------------------------------------------------- copies and views


def copy_tables(
    con: duckdb.DuckDBPyConnection, store: Store, entries: Sequence[TableEntry]
) -> None:
    """Plain tables named like the snapshot's, created from its Parquet (no constraints)."""
    for entry in entries:
        ref = qualified(entry.schema, entry.table)
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(entry.schema)}")
        if not entry.partitions:
            cols = ", ".join(f"{quote_ident(n)} {t}" for n, t, _nn in entry.columns)
            con.execute(f"CREATE TABLE {ref} ({cols})")
            continue
        # One object at a time: on a remote store each is a temporary local copy.
        keys = list(dict.fromkeys(p.object for p in entry.partitions))
        for i, obj in enumerate(keys):
            with local_files(store, [obj]) as files:
                verb = f"CREATE TABLE {ref} AS" if i == 0 else f"INSERT INTO {ref}"
                con.execute(f"{verb} SELECT * FROM {typed_parquet(entry, files)}")


def view_sql(entry: TableEntry, files: Sequence[str]) -> str:
    """``CREATE VIEW schema.table AS ...`` over ``files``, cast to the table's column types."""
    if files:
        body = "SELECT * FROM " + typed_parquet(entry, files)
    else:
        cols = ", ".join(
            f"CAST(NULL AS {c.type}) AS {quote_ident(c.name)}" for c in entry_columns(entry)
        )
        body = f"SELECT {cols} WHERE false"
    return f"CREATE OR REPLACE VIEW {qualified(entry.schema, entry.table)} AS {body}"


def create_parquet_views(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    files: Mapping[str, Sequence[str]],
    *,
    also: Sequence[tuple[str, Sequence[object]]] = (),
) -> list[str]:
    """One view per table over its Parquet ``files`` (paths or URLs by table name), then
    the snapshot's own macros and views (best effort). Returns the table names. ``also``:
    statements (SQL, parameters) run in the table views' transaction (``attach``'s
    ``navsnap_info``).

    A table view DuckDB cannot create (an object missing or not Parquet, or without a column
    the manifest lists: the store's content, as nothing else goes into that SQL) raises
    :class:`IntegrityError` naming the table, and in ``path`` the object DuckDB names.

    The table views are created in one transaction: in a database file each commit writes
    and syncs its WAL, and a commit per view was half of ``attach``'s time at 100k. The
    snapshot's own macros and views are not (a statement that fails, to be retried in
    dependency order, would abort the transaction)."""
    names = []
    no_autoinstall(con)  # the table views cast to the manifest's column types
    con.execute("BEGIN TRANSACTION")
    try:
        for entry in manifest.tables:
            if entry.schema != "main":
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(entry.schema)}")
            try:
                con.execute(view_sql(entry, files[entry.name]))
            except NOT_AN_ANSWER:
                raise
            except duckdb.Error as exc:
                raise _unreadable(manifest, entry, files[entry.name], exc) from exc
            names.append(entry.name)
        for sql, params in also:
            con.execute(sql, params)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    create_views_and_macros(con, manifest, only_tables=True)
    return names


def _unreadable(
    manifest: Manifest, entry: TableEntry, files: Sequence[str], exc: duckdb.Error
) -> IntegrityError:
    """The error for a table whose view over ``files`` DuckDB refused with ``exc``."""
    sid = manifest.snapshot_id
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    key = None
    if len(files) == len(entry.partitions):  # the manifest's own objects, in its order
        for part, url in zip(entry.partitions, files, strict=True):
            if url in detail:
                key = part.object.key
                detail = detail.replace(url, key)
    return IntegrityError(
        f"table {entry.name} of snapshot {sid} cannot be read from its objects: {cause(detail)}",
        path=key,
        snapshot_id=sid,
        hint=damaged_hint(sid),
    )


# --------------------------------------------------------------------------- macros and views


def strip_catalog(sql: str, dbname: str, relations: set[str]) -> str:
    """Rewrite explicit references to the original catalog ``dbname`` in view/macro SQL.

    ``dbname.schema.x`` loses its catalog part; ``dbname.x`` becomes ``main.x`` when ``x`` is
    one of the snapshot's ``relations`` (so ``census.id``, a column of table ``census``, is
    left alone). String literals and quoted identifiers are read as whole tokens: one that
    merely contains the name is never touched (a quoted identifier is the catalog only when
    it is exactly the quoted name). ``dbname`` holds no double quote
    (:func:`navsnap.manifest_check.check_database_name`); the caller checks the result again
    (:func:`restored_ddl`).
    """
    if not dbname:
        return sql
    names = {n.lower() for n in relations}
    ident = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
    pattern = re.compile(
        rf"""(?P<lit>'(?:[^']|'')*')"""
        rf"""|(?<![\w"$.])(?P<cat>{re.escape(quote_ident(dbname))}|{re.escape(dbname)})\."""
        rf"""(?P<first>{ident})(?P<more>\.{ident})?"""
        rf"""|(?P<quoted>"(?:[^"]|"")*")""",
        re.IGNORECASE,
    )

    def fix(m: re.Match[str]) -> str:
        if m.group("lit") is not None or m.group("quoted") is not None:
            return m.group(0)
        first, more = m.group("first"), m.group("more")
        if more:
            return f"{first}{more}"
        if first.strip('"').lower() in names:
            return f"main.{first}"
        return m.group(0)

    return pattern.sub(fix, sql)


def restored_ddl(manifest: Manifest, *, catalog: str | None) -> tuple[DdlEntry, ...]:
    """The manifest's ``ddl[]`` as a restore under catalog name ``catalog`` creates it.

    Byte for byte the recorded SQL when ``catalog`` is the original catalog name (an
    in-place restore, or ``--to`` a file of the same stem); otherwise macro and view SQL
    naming the original catalog is rewritten (:func:`strip_catalog`), and every rewritten
    text is checked again as the recorded one was (exactly one CREATE of its kind:
    :func:`~navsnap.manifest_check.check_rewritten_ddl`, IntegrityError naming the field).
    ``None`` means an unnamed catalog (views over Parquet), always rewritten. A restored
    database's own catalog, compared with this, matches its snapshot.
    """
    manifest.sql_checked()  # every caller executes or compares what this returns
    if catalog is not None and catalog.lower() == manifest.database_name.lower():
        return manifest.ddl
    relations = {t.table for t in manifest.tables} | {
        d.name for d in manifest.ddl if d.kind == "view"
    }
    out: list[DdlEntry] = []
    for i, d in enumerate(manifest.ddl):
        if d.kind in ("macro", "view"):
            sql = strip_catalog(d.sql, manifest.database_name, relations)
            if sql != d.sql:
                check_rewritten_ddl(
                    d.kind, sql, at=f"ddl[{i}].sql", snapshot_id=manifest.snapshot_id
                )
                d = dataclasses.replace(d, sql=sql)
        out.append(d)
    return tuple(out)


def no_autoinstall(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the SQL of a manifest (store content, untrusted) from making DuckDB download an
    extension: a view over ``read_csv('https://...')`` would install httpfs, then fetch the
    URL, at CREATE. An extension already installed still loads. DuckDB's setting is its
    instance's: every instance navsnap runs manifest SQL in is its own."""
    con.execute("SET autoinstall_known_extensions = false")


def create_views_and_macros(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    *,
    only_tables: bool,
    catalog: str | None = None,
    tables: Sequence[tuple[str, str]] = (),
) -> None:
    """Macros and views, and ``tables`` (name, DDL) with them: retried until no progress,
    so dependency order is found by DuckDB.

    DuckDB binds what a statement names when it runs it: a view its tables, views and macros,
    a macro what its body calls and reads, a table the macros its DEFAULT, CHECK and
    generated columns call (and the tables its foreign keys reference: ``tables`` come in
    that order). ``catalog`` is the name the database will be opened under; when it is not
    the original one, SQL naming the original catalog is rewritten (:func:`restored_ddl`).
    With ``only_tables`` (not every table exists), the macros and views that cannot be
    created are left out; otherwise that is a :class:`RestoreError`, and a table that cannot
    be created always is.
    """
    no_autoinstall(con)
    pending = [("table", name, sql) for name, sql in tables] + [
        (d.kind, d.name, d.sql)
        for d in restored_ddl(manifest, catalog=catalog)
        if d.kind in ("macro", "view")
    ]
    while pending:
        failed: list[tuple[str, str, str]] = []
        errors: dict[tuple[str, str], str] = {}
        for kind, name, sql in pending:
            try:
                con.execute(sql)
            except duckdb.Error as exc:
                failed.append((kind, name, sql))
                errors[(kind, name)] = str(exc).splitlines()[0]
        if len(failed) == len(pending):
            table = next((name for kind, name, _sql in failed if kind == "table"), None)
            if table is not None:
                raise RestoreError(
                    f"could not create table {table}: {errors[('table', table)]}",
                    hint="nothing was changed",
                )
            if only_tables:
                return  # a partial restore may lack what a view needs
            kind, name, _sql = failed[-1]
            raise RestoreError(
                f"could not recreate {len(failed)} view(s)/macro(s): {errors[(kind, name)]}",
                hint="nothing was changed",
            )
        pending = failed
