"""Restore: bring a database back to a snapshot, from the store alone.

Two strategies, chosen by :func:`plan_restore`:

* **full** — build a new database file beside the target (DDL in dependency order, data from
  Parquet, then macros and views), check row counts, fingerprints and validation aggregates
  against the manifest, CHECKPOINT, fsync, move the old file and its ``.wal`` aside under a
  name that says when and why, and rename the new file into place. Needs nothing of the old
  file, which may be missing, truncated or garbage.
* **delta** — when the live database opens and its schema matches, rewrite only the partitions
  whose fingerprint differs and delete partitions the snapshot does not have (rows of later
  years), in one transaction that is checked before it commits.

Every object is verified (xxh3-128 and size) before anything is changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import glob
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from navsnap.catalog import (
    column_signature,
    fingerprints,
    list_objects,
    list_tables,
    parquet_list,
    partition_filter,
    qualified,
    quote_ident,
)
from navsnap.errors import (
    DatabaseError,
    DiskFullError,
    IntegrityError,
    RestoreError,
    UsageError,
)
from navsnap.faults import fault_point
from navsnap.filecopy import restore_file_copy
from navsnap.fsutil import fsync_dir, keep_aside, pid_alive
from navsnap.hashing import hash_file
from navsnap.manifest import Manifest, ObjectRef, TableEntry
from navsnap.store import Store, layout
from navsnap.validation import compute_checks, compute_validation

__all__ = [
    "PartitionAction",
    "RestorePlan",
    "RestoreReport",
    "newest_intact_before",
    "open_status",
    "plan_restore",
    "restore",
    "verify_objects",
    "with_fallback_hint",
]

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PartitionAction:
    table: str
    year: str | None
    action: str  # "load" | "drop" | "keep"
    rows: int
    bytes: int


@dataclass(frozen=True)
class RestorePlan:
    snapshot_id: str
    year: int
    target: str
    strategy: str  # "full" | "delta" | "file" | "none"
    reason: str
    actions: tuple[PartitionAction, ...] = ()
    drop_tables: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()

    @property
    def bytes_to_read(self) -> int:
        return sum(a.bytes for a in self.actions if a.action == "load")

    def count(self, action: str) -> int:
        return sum(1 for a in self.actions if a.action == action)

    def to_dict(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "year": self.year,
            "target": self.target,
            "strategy": self.strategy,
            "reason": self.reason,
            "bytes_to_read": self.bytes_to_read,
            "load": [
                {"table": a.table, "year": a.year, "rows": a.rows, "bytes": a.bytes}
                for a in self.actions
                if a.action == "load"
            ],
            "drop": [
                {"table": a.table, "year": a.year, "rows": a.rows}
                for a in self.actions
                if a.action == "drop"
            ],
            "keep": [
                {"table": a.table, "year": a.year} for a in self.actions if a.action == "keep"
            ],
            "drop_tables": list(self.drop_tables),
        }


@dataclass(frozen=True)
class RestoreReport:
    plan: RestorePlan
    moved_aside: tuple[str, ...] = ()
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.plan.to_dict(),
            "moved_aside": list(self.moved_aside),
            "seconds": round(self.seconds, 3),
            "timings": self.timings,
        }


# --------------------------------------------------------------------------- helpers


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


def verify_objects(
    store: Store,
    manifest: Manifest,
    objects: Iterable[ObjectRef],
    *,
    progress: ProgressFn | None = None,
) -> None:
    """Check size and xxh3-128 of each object; raise IntegrityError naming the first bad one."""
    objs = list(objects)
    workers = store.capabilities.parallel_reads
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Remote objects are hashed in parallel (network bound); results stay in order.
        results = pool.map(_hash_or_missing, [store] * len(objs), [o.key for o in objs])
        for i, (obj, result) in enumerate(zip(objs, results, strict=True)):
            if progress is not None:
                progress("verify", i, len(objs))
            _check_object(manifest, obj, result)
    if progress is not None:
        progress("verify", len(objs), len(objs))


def _hash_or_missing(store: Store, key: str) -> tuple[str, int] | None:
    try:
        return store.hash_object(key)
    except FileNotFoundError:
        return None


def _check_object(manifest: Manifest, obj: ObjectRef, result: tuple[str, int] | None) -> None:
    hint = "restore another snapshot; 'navsnap verify --all' lists the intact ones"
    if result is None:
        raise IntegrityError(
            f"object {obj.key} of snapshot {manifest.snapshot_id} is missing",
            path=obj.key,
            snapshot_id=manifest.snapshot_id,
            hint=hint,
        )
    digest, size = result
    if size != obj.size or digest != obj.xxh3:
        raise IntegrityError(
            f"object {obj.key} of snapshot {manifest.snapshot_id} is corrupt "
            f"(xxh3 {digest}, expected {obj.xxh3})",
            path=obj.key,
            snapshot_id=manifest.snapshot_id,
            hint=hint,
        )


def open_status(db_path: Path) -> str:
    """'missing', 'directory', 'ok' or 'broken' (exists but DuckDB cannot open it)."""
    if not db_path.exists():
        return "missing"
    if db_path.is_dir():
        return "directory"
    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error:
        return "broken"
    con.close()
    return "ok"


def strip_catalog(sql: str, dbname: str, relations: set[str]) -> str:
    """Rewrite explicit references to the original catalog ``dbname`` in view/macro SQL.

    ``dbname.schema.x`` loses its catalog part; ``dbname.x`` becomes ``main.x`` when ``x`` is
    one of the snapshot's ``relations`` (so ``census.id``, a column of table ``census``, is
    left alone). String literals and quoted identifiers that merely contain the name are
    never touched.
    """
    if not dbname:
        return sql
    names = {n.lower() for n in relations}
    ident = r'(?:"(?:[^"]|"")+"|[A-Za-z_][\w$]*)'
    pattern = re.compile(
        rf"""(?P<lit>'(?:[^']|'')*')"""
        rf"""|(?<![\w"$.])(?P<cat>{re.escape(quote_ident(dbname))}|{re.escape(dbname)})\."""
        rf"""(?P<first>{ident})(?P<more>\.{ident})?""",
        re.IGNORECASE,
    )

    def fix(m: re.Match[str]) -> str:
        if m.group("lit") is not None:
            return m.group(0)
        first, more = m.group("first"), m.group("more")
        if more:
            return f"{first}{more}"
        if first.strip('"').lower() in names:
            return f"main.{first}"
        return m.group(0)

    return pattern.sub(fix, sql)


def raise_if_in_use(exc: duckdb.Error, path: Path) -> None:
    """A file another process holds open is in use, not broken: never restore over it."""
    text = str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        raise DatabaseError(
            f"database {str(path)!r} is open in another process",
            hint="close that process (a notebook, dbt, another navsnap) and try again",
        ) from None


def _aside_name(path: Path, snapshot_id: str, stamp: str) -> Path:
    return path.with_name(f"{path.name}.{stamp}.before-restore-{snapshot_id}")


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _load_partitions(con: duckdb.DuckDBPyConnection, target_ref: str, files: Sequence[str]) -> None:
    """Append the rows of Parquet ``files`` to a table, matching columns by name."""
    if not files:
        return
    con.execute(
        f"INSERT INTO {target_ref} BY NAME SELECT * FROM read_parquet({parquet_list(files)})"
    )


def _check_against_manifest(
    con: duckdb.DuckDBPyConnection, manifest: Manifest, entries: Sequence[TableEntry]
) -> None:
    for entry in entries:
        got = fingerprints(con, entry.info())
        want = {p.year: p.fingerprint for p in entry.partitions}
        got_s = {k: manifest.comparable(v.as_str()) for k, v in got.items()}
        want = {k: manifest.comparable(v) for k, v in want.items()}
        if got_s != want:
            bad = sorted(str(k) for k in set(got_s) | set(want) if got_s.get(k) != want.get(k))
            raise RestoreError(
                f"restored table {entry.name} does not match snapshot {manifest.snapshot_id} "
                f"(partitions {', '.join(bad)})",
                hint="nothing was changed; run 'navsnap verify --deep' on the snapshot",
            )


def _check_rewritten(
    con: duckdb.DuckDBPyConnection, manifest: Manifest, actions: Sequence[PartitionAction]
) -> None:
    """Each reloaded partition fingerprints as in the manifest; each dropped one is empty."""
    by_name = {t.name: t for t in manifest.tables}
    for act in actions:
        entry = by_name[act.table]
        info = entry.info()
        source = f"(SELECT * FROM {info.ref}{partition_filter(info, act.year)})"
        got = fingerprints(con, info, source=source).get(act.year)
        got_s = manifest.comparable(got.as_str()) if got is not None else None
        want = next((p.fingerprint for p in entry.partitions if p.year == act.year), None)
        want = None if act.action == "drop" or want is None else manifest.comparable(want)
        if got_s != want:
            raise RestoreError(
                f"rewritten partition {entry.name} {act.year or '(global)'} does not match "
                f"snapshot {manifest.snapshot_id}",
                hint="nothing was changed; run 'navsnap verify --deep' on the snapshot",
            )


def _check_aggregates(con: duckdb.DuckDBPyConnection, manifest: Manifest) -> None:
    if manifest.validation:
        got = compute_validation(con, year=manifest.year, builtin=True)
        if got != manifest.validation:
            keys = sorted(
                k
                for k in set(got) | set(manifest.validation)
                if got.get(k) != manifest.validation.get(k)
            )
            raise RestoreError(
                f"validation aggregates differ from snapshot {manifest.snapshot_id}: "
                f"{', '.join(keys)}",
                hint="nothing was changed; run 'navsnap verify --deep' on the snapshot",
            )
    checks = manifest.config.get("values", {}).get("checks") or {}
    if manifest.checks and checks:
        got = compute_checks(con, checks, year=manifest.year)
        if got != manifest.checks:
            raise RestoreError(
                f"SQL checks differ from snapshot {manifest.snapshot_id}",
                hint="nothing was changed",
            )


# --------------------------------------------------------------------------- planning


def plan_restore(
    store: Store,
    manifest: Manifest,
    *,
    db_path: str | os.PathLike[str],
    to: str | os.PathLike[str] | None = None,
    tables: Sequence[str] | None = None,
    allow_delta: bool = True,
) -> RestorePlan:
    """What a restore would do, changing nothing."""
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
        analysed = _analyse_live(target, manifest, entries, partial=bool(tables))
    except duckdb.Error as exc:
        raise_if_in_use(exc, target)
        return full(f"target is broken ({str(exc).splitlines()[0][:80]})")
    if isinstance(analysed, str):
        return full(analysed)
    actions, drop_tables = analysed
    changed = any(a.action != "keep" for a in actions) or bool(drop_tables)
    return RestorePlan(
        manifest.snapshot_id,
        manifest.year,
        str(target),
        "delta" if changed else "none",
        "live database opens with a matching schema",
        tuple(actions),
        drop_tables,
        names,
    )


def _analyse_live(
    target: Path, manifest: Manifest, entries: Sequence[TableEntry], *, partial: bool
) -> str | tuple[list[PartitionAction], tuple[str, ...]]:
    """Per-partition actions for a delta restore, or the reason a full restore is needed."""
    con = duckdb.connect(str(target), read_only=True)
    try:
        live = {t.key: t for t in list_tables(con, year_column=manifest.year_column)}
        live_ddl = [(o.kind, o.schema, o.name, o.sql) for o in list_objects(con)]
        actions: list[PartitionAction] = []
        for entry in entries:
            info = live.get(entry.name)
            if info is None:
                return f"table {entry.name} is missing"
            if column_signature(info.columns) != column_signature(entry.column_list()):
                return f"table {entry.name} has another schema"
            if info.sql != entry.ddl:
                return f"table {entry.name} has other constraints"
            got = {k: manifest.comparable(v.as_str()) for k, v in fingerprints(con, info).items()}
            want = {p.year: p for p in entry.partitions}
            for year, part in want.items():
                same = got.get(year) == manifest.comparable(part.fingerprint)
                actions.append(
                    PartitionAction(
                        entry.name,
                        year,
                        "keep" if same else "load",
                        part.rows,
                        0 if same else part.object.size,
                    )
                )
            for year in sorted(set(got) - set(want), key=str):
                rows = int(got[year].split(":", 1)[0])
                actions.append(PartitionAction(entry.name, year, "drop", rows, 0))
        drop_tables: tuple[str, ...] = ()
        if not partial:
            want_ddl = [(d["kind"], d["schema"], d["name"], d["sql"]) for d in manifest.ddl]
            if sorted(live_ddl) != sorted(want_ddl):
                return "views, macros or sequences differ"
            drop_tables = tuple(sorted(set(live) - {e.name for e in entries}))
    finally:
        con.close()
    return actions, drop_tables


# --------------------------------------------------------------------------- execution


def _objects_for(plan: RestorePlan, manifest: Manifest) -> list[ObjectRef]:
    if manifest.mode == "file":
        return [manifest.file.object] if manifest.file else []
    want = {(a.table, a.year) for a in plan.actions if a.action == "load"}
    seen: dict[str, ObjectRef] = {}
    for t in manifest.tables:
        for p in t.partitions:
            if (t.name, p.year) in want:
                seen.setdefault(p.object.key, p.object)
    return list(seen.values())


def create_views_and_macros(
    con: duckdb.DuckDBPyConnection,
    manifest: Manifest,
    *,
    only_tables: bool,
    catalog: str | None = None,
) -> None:
    """Macros and views: retried until no progress, so dependency order is found by DuckDB.

    ``catalog`` is the name the database will be opened under; when it is not the original
    one, SQL naming the original catalog is rewritten (:func:`strip_catalog`).
    """
    relations = {t.table for t in manifest.tables} | {
        d["name"] for d in manifest.ddl if d["kind"] == "view"
    }
    rename = catalog is None or catalog.lower() != manifest.database_name.lower()
    pending = [
        strip_catalog(d["sql"], manifest.database_name, relations) if rename else d["sql"]
        for d in manifest.ddl
        if d["kind"] in ("macro", "view")
    ]
    while pending:
        failed: list[str] = []
        last_error = ""
        for sql in pending:
            try:
                con.execute(sql)
            except duckdb.Error as exc:
                failed.append(sql)
                last_error = str(exc).splitlines()[0]
        if len(failed) == len(pending):
            if only_tables:
                return  # a partial restore may lack what a view needs
            raise RestoreError(
                f"could not recreate {len(failed)} view(s)/macro(s): {last_error}",
                hint="nothing was changed",
            )
        pending = failed


def _build_full(
    store: Store,
    manifest: Manifest,
    plan: RestorePlan,
    tmp: Path,
    progress: ProgressFn | None,
) -> dict[str, float]:
    timings: dict[str, float] = {}
    # Attach the new file under the catalog name it will have when opened at the target
    # (DuckDB names it after the file), so view SQL that names that catalog binds.
    catalog = Path(plan.target).name.split(".", 1)[0]
    if not catalog or catalog.lower() in ("memory", "system", "temp", "main"):
        catalog = "navsnap_restore"
    alias = quote_ident(catalog)
    con = duckdb.connect()
    try:
        # Row order is not part of a table's content (fingerprints ignore it); letting DuckDB
        # append in parallel makes loading and the final CHECKPOINT much faster.
        con.execute("SET preserve_insertion_order = false")
        opts = ""
        if manifest.storage_version:
            opts = f" (STORAGE_VERSION '{manifest.storage_version}')"
        try:
            con.execute(f"ATTACH '{tmp.as_posix()}' AS {alias}{opts}")
        except duckdb.Error:
            con.execute(f"ATTACH '{tmp.as_posix()}' AS {alias}")
        con.execute(f"USE {alias}")
        entries = [e for e in manifest.tables if e.name in set(plan.tables)]
        t0 = time.perf_counter()
        for d in manifest.ddl:
            if d["kind"] in ("schema", "type", "sequence"):
                con.execute(d["sql"])
        for entry in entries:
            con.execute(entry.ddl)
        timings["ddl_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        for i, entry in enumerate(entries):
            if progress is not None:
                progress("load", i, len(entries))
            with _local_files(store, [p.object for p in entry.partitions]) as files:
                _load_partitions(con, qualified(entry.schema, entry.table), files)
        if progress is not None:
            progress("load", len(entries), len(entries))
        timings["load_s"] = time.perf_counter() - t1
        partial = len(entries) != len(manifest.tables)
        for d in manifest.ddl:
            if d["kind"] == "index":
                try:
                    con.execute(d["sql"])
                except duckdb.Error:
                    if not partial:  # a partial restore may lack the index's table
                        raise
        create_views_and_macros(con, manifest, only_tables=partial, catalog=catalog)
        fault_point("restore-after-load")
        t2 = time.perf_counter()
        _check_against_manifest(con, manifest, entries)
        if len(entries) == len(manifest.tables):
            _check_aggregates(con, manifest)
        timings["check_s"] = time.perf_counter() - t2
        con.execute(f"CHECKPOINT {alias}")
        con.execute("USE memory")
        con.execute(f"DETACH {alias}")
    finally:
        con.close()
    return timings


class _local_files:
    """Local paths for objects (the objects themselves on a local store)."""

    def __init__(self, store: Store, objects: Sequence[ObjectRef]) -> None:
        self.store = store
        self.objects = objects
        self._stack: list[Any] = []

    def __enter__(self) -> list[str]:
        paths = []
        for obj in self.objects:
            cm = self.store.local_copy(obj.key)
            paths.append(str(cm.__enter__()))
            self._stack.append(cm)
        return paths

    def __exit__(self, *exc: object) -> None:
        for cm in reversed(self._stack):
            cm.__exit__(None, None, None)


def _is_disk_full(exc: BaseException) -> bool:
    """ENOSPC from the OS, or DuckDB's wording of it (its errors carry no errno)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, duckdb.Error) and "No space left on device" in str(exc)


def _dead_restore_temps(target: Path) -> list[Path]:
    """Temporary files (and their .wal) of restores into ``target`` whose process is gone.

    A restore killed before its swap leaves ``.<name>.navsnap-restore-<pid>.tmp``, a full
    copy of the database; the next restore of the same target removes it.
    """
    out = []
    prefix = f".{target.name}.navsnap-restore-"
    for p in target.parent.glob(f"{glob.escape(prefix)}*.tmp*"):
        pid = p.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            out.append(p)
    return out


def _swap_into_place(tmp: Path, target: Path, snapshot_id: str) -> tuple[str, ...]:
    """Keep the old file and .wal aside (never deleted), then rename the new file into place.

    The old file is hard-linked to its aside name first, so the target path holds the
    complete old database until the atomic rename replaces it. The old .wal is kept aside
    under the kept file's name + ".wal" (DuckDB finds a WAL only at "<file>.wal") and removed
    from the target path before the rename, so it can never be replayed into the new file.
    """
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    moved: list[str] = []
    fault_point("restore-before-swap")
    aside_db = _aside_name(target, snapshot_id, stamp)
    for old, aside in ((target, aside_db), (_wal(target), _wal(aside_db))):
        if old.exists():
            keep_aside(old, aside)
            moved.append(str(aside))
    fsync_dir(target.parent)
    fault_point("restore-after-move-aside")
    _wal(target).unlink(missing_ok=True)
    fsync_dir(target.parent)
    fault_point("restore-after-move-aside")
    os.replace(tmp, target)
    fsync_dir(target.parent)
    fault_point("restore-after-swap")
    return tuple(moved)


def _apply_delta(store: Store, manifest: Manifest, plan: RestorePlan, target: Path) -> None:
    con = duckdb.connect(str(target))
    try:
        con.execute("SET preserve_insertion_order = false")
        con.execute("BEGIN TRANSACTION")
        by_name = {t.name: t for t in manifest.tables}
        for name in plan.drop_tables:
            schema, _, table = name.rpartition(".")
            con.execute(f"DROP TABLE {qualified(schema or 'main', table)}")
        for act in plan.actions:
            if act.action == "keep":
                continue
            entry = by_name[act.table]
            ref = qualified(entry.schema, entry.table)
            con.execute(f"DELETE FROM {ref}{partition_filter(entry.info(), act.year)}")
            if act.action == "load":
                part = next(p for p in entry.partitions if p.year == act.year)
                with _local_files(store, [part.object]) as files:
                    _load_partitions(con, ref, files)
        fault_point("delta-mid-transaction")
        # Every kept partition already matched its fingerprint; check what was rewritten.
        # (The validation aggregates follow: every partition equals the manifest's.)
        _check_rewritten(con, manifest, [a for a in plan.actions if a.action != "keep"])
        con.execute("COMMIT")
        con.execute("CHECKPOINT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def restore(
    store: Store,
    manifest: Manifest,
    *,
    db_path: str | os.PathLike[str],
    to: str | os.PathLike[str] | None = None,
    tables: Sequence[str] | None = None,
    dry_run: bool = False,
    allow_delta: bool = True,
    progress: ProgressFn | None = None,
) -> RestoreReport:
    """Restore ``manifest`` into ``db_path`` (or ``to``). See the module docstring."""
    t0 = time.perf_counter()
    plan = plan_restore(
        store, manifest, db_path=db_path, to=to, tables=tables, allow_delta=allow_delta
    )
    if dry_run or plan.strategy == "none":
        return RestoreReport(plan=plan, seconds=time.perf_counter() - t0)
    target = Path(plan.target)
    if not target.parent.exists():
        raise DatabaseError(
            f"directory {str(target.parent)!r} does not exist", hint="create it first"
        )
    t1 = time.perf_counter()
    objects = _objects_for(plan, manifest)
    cache = store.cache
    if cache is None:
        verify_objects(store, manifest, objects, progress=progress)
    else:
        # Remote store: download in parallel into the local object cache, each object
        # verified as it arrives; _local_files then reads the cached files.
        cache.fetch(store, objects, snapshot_id=manifest.snapshot_id, progress=progress)
    timings: dict[str, float] = {"verify_s": time.perf_counter() - t1}

    if plan.strategy == "delta":
        try:
            _apply_delta(store, manifest, plan, target)
        except (duckdb.Error, RestoreError) as exc:
            # The live file opened but fails while being rewritten (damaged blocks), or the
            # rewrite did not check out: the transaction rolled back; rebuild it whole.
            if isinstance(exc, duckdb.Error):
                raise_if_in_use(exc, target)
            if tables:
                raise RestoreError(
                    f"could not rewrite tables in {str(target)!r}: {str(exc).splitlines()[0]}",
                    hint="nothing was changed; restore --to another path instead",
                ) from None
            full = plan_restore(store, manifest, db_path=db_path, to=to, allow_delta=False)
            plan = replace(full, reason=f"delta failed: {str(exc).splitlines()[0][:80]}")
        else:
            timings["total_s"] = time.perf_counter() - t0
            return RestoreReport(plan=plan, seconds=time.perf_counter() - t0, timings=timings)

    tmp = target.with_name(f".{target.name}.navsnap-restore-{os.getpid()}.tmp")
    for leftover in (tmp, _wal(tmp), *_dead_restore_temps(target)):
        leftover.unlink(missing_ok=True)
    try:
        if plan.strategy == "file":
            assert manifest.file is not None
            restore_file_copy(manifest.file, store=store, dest=tmp)
            digest, size = hash_file(tmp)
            if digest != manifest.file.raw_xxh3 or size != manifest.file.raw_size:
                raise IntegrityError(
                    f"restored file of snapshot {manifest.snapshot_id} does not match its hash",
                    snapshot_id=manifest.snapshot_id,
                )
        else:
            timings.update(_build_full(store, manifest, plan, tmp, progress))
            if _wal(tmp).exists():
                raise RestoreError("restored database kept a .wal after CHECKPOINT")
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
        moved = _swap_into_place(tmp, target, manifest.snapshot_id)
    except BaseException as exc:
        for leftover in (tmp, _wal(tmp)):
            leftover.unlink(missing_ok=True)
        if _is_disk_full(exc):
            raise DiskFullError(
                f"no space left while restoring {manifest.snapshot_id} into {str(target)!r}",
                hint="free disk space and run the command again; nothing was changed",
            ) from None
        if isinstance(exc, duckdb.Error):
            raise RestoreError(
                f"restoring {manifest.snapshot_id} into {str(target)!r} failed: "
                f"{str(exc).splitlines()[0]}",
                hint="nothing was changed; run 'navsnap verify --deep' on the snapshot",
            ) from exc
        raise
    timings["total_s"] = time.perf_counter() - t0
    return RestoreReport(
        plan=plan, moved_aside=moved, seconds=time.perf_counter() - t0, timings=timings
    )


def newest_intact_before(
    store: Store, snapshot_id: str, manifest: Manifest | None = None
) -> Manifest | None:
    """The newest snapshot older than ``snapshot_id``, of its lineage, that is intact.

    Lineage: the configuration hash of ``manifest`` (when its manifest is readable) or of the
    readable snapshots of the same run. Intact: its manifest reads and every object it
    references has the recorded size and xxh3-128. None when there is no such snapshot.
    """
    from navsnap.index import read_all

    manifests, _broken = read_all(store)
    run_id, _, year_text = snapshot_id.rpartition("-")
    if manifest is not None:
        lineage = {manifest.config_hash}
    else:
        lineage = {m.config_hash for m in manifests if m.run_id == run_id}

    def older(m: Manifest) -> bool:
        if manifest is not None:
            return (m.created_at, m.snapshot_id) < (manifest.created_at, manifest.snapshot_id)
        if m.run_id == run_id:
            return year_text.isdigit() and m.year < int(year_text)
        return m.run_id < run_id  # run ids begin with their UTC start time

    candidates = [
        m
        for m in manifests
        if m.snapshot_id != snapshot_id and m.config_hash in lineage and older(m)
    ]
    for m in sorted(candidates, key=lambda m: (m.created_at, m.snapshot_id), reverse=True):
        try:
            verify_objects(store, m, m.objects())
        except IntegrityError:
            continue
        return m
    return None


def with_fallback_hint(
    store: Store, exc: IntegrityError, manifest: Manifest | None = None
) -> IntegrityError:
    """``exc`` with a hint naming the newest older intact snapshot of the same lineage."""
    if exc.snapshot_id is None:
        return exc
    good = newest_intact_before(store, exc.snapshot_id, manifest)
    if good is None:
        exc.hint = (
            f"no older intact snapshot of the lineage of {exc.snapshot_id}; "
            "'navsnap verify --all' lists the damage"
        )
    else:
        exc.hint = (
            f"the newest older intact snapshot is {good.snapshot_id} (end of {good.year}): "
            f"navsnap restore {good.snapshot_id}"
        )
    return exc


def damaged_manifest_error(store: Store, year: int, run: str | None) -> IntegrityError | None:
    """When a request by year (and run) finds nothing because the newest matching manifest
    is damaged, the error to say so (instead of 'no snapshot')."""
    from navsnap.index import read_all

    _good, broken = read_all(store)
    hits = [
        b
        for b in broken
        if b.snapshot_id.endswith(f"-{year}") and (run is None or b.snapshot_id == f"{run}-{year}")
    ]
    if not hits:
        return None
    bad = max(hits, key=lambda b: b.snapshot_id)
    return IntegrityError(
        f"the manifest of snapshot {bad.snapshot_id} is damaged: {bad.error}",
        path=layout.manifest_key(bad.snapshot_id),
        snapshot_id=bad.snapshot_id,
    )


def effective_tables(manifest: Manifest) -> Mapping[str, TableEntry]:
    return {t.name: t for t in manifest.tables}
