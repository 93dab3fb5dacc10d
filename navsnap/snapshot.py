"""Taking a snapshot: the complete state of a database at a year boundary.

Write order (the commit protocol, ``docs/format.md``):

1. every Parquet object is written by DuckDB to a local staging file, hashed (xxh3-128) and
   published under its hash (temp name, fsync, rename; one PUT on object stores);
   partitions whose row fingerprint is already stored are not written again;
2. the manifest is written last, atomically. It is the only commit point: a crash before it
   leaves no snapshot, only unreferenced objects that the next checkpoint or prune removes.

Taking a snapshot never changes the database (whole-file mode's CHECKPOINT excepted).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from navsnap._version import __version__
from navsnap.catalog import (
    TableInfo,
    column_signature,
    fingerprints,
    list_objects,
    list_tables,
    quote_ident,
    storage_version,
)
from navsnap.errors import DatabaseError, DiskFullError, NavsnapError, StoreError
from navsnap.faults import fault_point
from navsnap.filecopy import copy_database_file
from navsnap.hashing import hash_file
from navsnap.index import ReuseIndex
from navsnap.lock import store_writer
from navsnap.manifest import FileCopy, Manifest, ObjectRef, Partition, TableEntry, manifest_key
from navsnap.storage import Store
from navsnap.validation import compute_checks, compute_validation

__all__ = ["ProgressFn", "SnapshotOptions", "new_run_id", "take_snapshot"]

#: Progress callback: (phase, done, total). The library never prints; the CLI renders this.
ProgressFn = Callable[[str, int, int], None]

_TEMP_GRACE_SECONDS = 0.0


def new_run_id() -> str:
    """A new run id: UTC start time and 4 random hex digits, sortable."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(2)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SnapshotOptions:
    """How to take a snapshot (from the ``[snapshot]`` config section)."""

    mode: str = "parquet"
    compression: str = "zstd"
    compression_level: int = 1
    file_compression: bool = False
    year_column: str = "simulation_year"
    builtin_validation: bool = False
    checks: Mapping[str, str] = field(default_factory=dict)


def _object_key(digest: str, ext: str) -> str:
    return f"objects/{digest[:2]}/{digest}.{ext}"


def _partition_filter(table: TableInfo, year: str | None) -> str:
    if table.year_column is None:
        return ""
    col = quote_ident(table.year_column)
    if year == "null":
        return f" WHERE {col} IS NULL"
    assert year is not None
    coltype = next(c.type for c in table.columns if c.name == table.year_column)
    literal = "'" + year.replace("'", "''") + "'"
    return f" WHERE {col} = CAST({literal} AS {coltype})"


def _copy_options(opts: SnapshotOptions) -> str:
    parts = ["FORMAT parquet", f"COMPRESSION {opts.compression}"]
    if opts.compression == "zstd":
        parts.append(f"COMPRESSION_LEVEL {opts.compression_level}")
    return ", ".join(parts)


def _publish(store: Store, staged: Path, ext: str) -> tuple[ObjectRef, bool]:
    digest, size = hash_file(staged)
    key = _object_key(digest, ext)
    fault_point("before-object-publish")
    created = store.publish_file(staged, key)
    fault_point("after-object-publish")
    return ObjectRef(key=key, xxh3=digest, size=size), created


def _translate_duckdb(exc: duckdb.Error, what: str) -> NavsnapError:
    text = str(exc)
    if "No space left" in text or "ENOSPC" in text:
        return DiskFullError(f"no space left while {what}", hint="free disk space and retry")
    return StoreError(f"{what} failed: {text.splitlines()[0]}")


def take_snapshot(
    con: duckdb.DuckDBPyConnection,
    *,
    store: Store,
    year: int,
    run_id: str,
    config: Mapping[str, Any],
    options: SnapshotOptions,
    db_path: str | os.PathLike[str] | None = None,
    reuse: ReuseIndex | None = None,
    parent: str | None = None,
    progress: ProgressFn | None = None,
) -> Manifest:
    """Snapshot the database behind ``con`` as the end of ``year`` and commit it.

    ``config`` is the manifest's config block (values, identity, hash, inputs).
    ``reuse`` holds partitions already stored (loaded from the store when None).
    A writer marker in the store keeps a concurrent ``prune`` from deleting objects
    meanwhile (:func:`navsnap.lock.store_writer`).
    """
    store.ensure_writable()
    with store_writer(store, purpose=f"navsnap checkpoint {run_id}-{year}"):
        return _take_snapshot(
            con,
            store=store,
            year=year,
            run_id=run_id,
            config=config,
            options=options,
            db_path=db_path,
            reuse=reuse,
            parent=parent,
            progress=progress,
        )


def _take_snapshot(
    con: duckdb.DuckDBPyConnection,
    *,
    store: Store,
    year: int,
    run_id: str,
    config: Mapping[str, Any],
    options: SnapshotOptions,
    db_path: str | os.PathLike[str] | None,
    reuse: ReuseIndex | None,
    parent: str | None,
    progress: ProgressFn | None,
) -> Manifest:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    store.ensure_writable()
    store.clean_temp(older_than=_TEMP_GRACE_SECONDS)
    if reuse is None:
        reuse = ReuseIndex.from_store(store)
    snapshot_id = f"{run_id}-{year}"
    if store.exists(manifest_key(snapshot_id)):
        raise StoreError(
            f"snapshot {snapshot_id} already exists in {store.url!r}",
            hint="use another --run id",
        )

    if options.mode == "file":
        if db_path is None:
            raise DatabaseError("whole-file mode needs a database file, not an in-memory one")
        try:
            con.execute("CHECKPOINT")
        except duckdb.Error as exc:
            raise _translate_duckdb(exc, "CHECKPOINT before the file copy") from None
        timings["checkpoint_s"] = time.perf_counter() - t0

    cur = con.cursor()
    staging = store.temp_dir()
    try:
        cur.execute("BEGIN TRANSACTION")
        tables = list_tables(cur, year_column=options.year_column)
        entries: list[TableEntry] = []
        t1 = time.perf_counter()
        plan: list[tuple[TableInfo, str | None, str, int]] = []
        for table in tables:
            for part, found in sorted(
                fingerprints(cur, table).items(), key=lambda kv: (kv[0] is not None, kv[0] or "")
            ):
                plan.append((table, part, found.as_str(), found.rows))
        timings["fingerprint_s"] = time.perf_counter() - t1

        file_copy: FileCopy | None = None
        if options.mode == "file":
            assert db_path is not None
            t2 = time.perf_counter()
            file_copy = copy_database_file(
                Path(db_path), store=store, staging=staging, compress=options.file_compression
            )
            timings["copy_s"] = time.perf_counter() - t2

        t3 = time.perf_counter()
        parts_by_table: dict[str, list[Partition]] = {t.key: [] for t in tables}
        for i, (table, part, fp, rows) in enumerate(plan):
            if progress is not None:
                progress("export", i, len(plan))
            if file_copy is not None:
                parts_by_table[table.key].append(
                    Partition(year=part, rows=rows, fingerprint=fp, object=file_copy.object)
                )
                continue
            sig = column_signature(table.columns)
            hit = reuse.get(ReuseIndex.key(table.key, part, sig, fp))
            if hit is not None and store.exists(hit[0]):
                ref = ObjectRef(key=hit[0], xxh3=hit[1], size=hit[2])
                parts_by_table[table.key].append(
                    Partition(year=part, rows=rows, fingerprint=fp, object=ref, reused=True)
                )
                continue
            staged = staging / f"{len(parts_by_table[table.key])}-{secrets.token_hex(4)}.parquet"
            sql = (
                f"COPY (SELECT * FROM {table.ref}{_partition_filter(table, part)}) "
                f"TO '{staged.as_posix()}' ({_copy_options(options)})"
            )
            try:
                cur.execute(sql)
            except duckdb.Error as exc:
                raise _translate_duckdb(exc, f"exporting {table.key} year {part}") from None
            fault_point("after-parquet-write")
            ref, _created = _publish(store, staged, "parquet")
            parts_by_table[table.key].append(
                Partition(year=part, rows=rows, fingerprint=fp, object=ref)
            )
        if progress is not None:
            progress("export", len(plan), len(plan))
        timings["export_s"] = time.perf_counter() - t3

        for table in tables:
            entries.append(
                TableEntry(
                    name=table.key,
                    schema=table.schema,
                    table=table.name,
                    ddl=table.sql,
                    columns=tuple((c.name, c.type, c.not_null) for c in table.columns),
                    year_column=table.year_column,
                    depends_on=table.depends_on,
                    partitions=tuple(parts_by_table[table.key]),
                )
            )
        t4 = time.perf_counter()
        validation = compute_validation(cur, year=year, builtin=options.builtin_validation)
        checks = compute_checks(cur, options.checks, year=year)
        timings["validation_s"] = time.perf_counter() - t4
        ddl = tuple(
            {"kind": o.kind, "schema": o.schema, "name": o.name, "sql": o.sql}
            for o in list_objects(cur)
        )
        dbname = str(cur.execute("SELECT current_database()").fetchone()[0])  # type: ignore[index]
        sv = storage_version(cur)
        cur.execute("ROLLBACK")
    finally:
        cur.close()
        shutil.rmtree(staging, ignore_errors=True)

    timings["total_s"] = time.perf_counter() - t0
    manifest = Manifest(
        snapshot_id=snapshot_id,
        run_id=run_id,
        year=year,
        created_at=_now_iso(),
        mode=options.mode,
        navsnap_version=__version__,
        duckdb_version=duckdb.__version__,
        database_name=dbname,
        storage_version=sv,
        year_column=options.year_column,
        config=dict(config),
        tables=tuple(entries),
        ddl=ddl,
        file=file_copy,
        validation=validation,
        checks=checks,
        timings={k: round(v, 6) for k, v in timings.items()},
        parent=parent,
    )
    fault_point("before-manifest")
    store.write_bytes_atomic(manifest_key(snapshot_id), manifest.to_json())
    fault_point("after-manifest")
    reuse.add_manifest(manifest)
    return manifest
