#!/usr/bin/env python3
"""navsnap against DuckLake, DuckDB's own snapshot format, on the same simulation run.

    python scripts/bench_ducklake.py --quick           # 20k employees, 2 reps: about 1-2 min
    python scripts/bench_ducklake.py                   # 100k employees, 3 reps: about 3-5 min
    python scripts/bench_ducklake.py --sizes 100000,1000000 --write   # + 1M once: +4-6 min

DuckLake needs DuckDB 1.5.x (there is no DuckLake build for DuckDB 2.0), so this script runs
both sides under DuckDB 1.5.5 in its own virtual environment, ``.bench-venv/ducklake`` (git
ignores it). When started with another DuckDB it creates that environment if it is missing
(``pip install duckdb==1.5.5 duckdb-extension-ducklake==1.5.5 pytz`` and navsnap from this
checkout with its ``bench`` extra) and runs itself again there. The extension is LOADed from
the file the ``duckdb-extension-ducklake`` package ships (``INSTALL ducklake`` would need the
extension repository, which this machine cannot reach).

Per repetition, one ``navsnap.run`` of 2025-2029 with snapshots; an ``on_event`` callback
(scripts/bench_scale.py) holds each next year back until the year's snapshot has committed,
then commits the same year-end to a DuckLake in one transaction on a second connection to the
same database instance: snapshot and commit alternate year by year on the same data. After the
run, one interleaved pair: a database file as of 2027 from each (navsnap ``restore --to``;
DuckLake: materialize its 2027 version into a fresh ``.duckdb``), order alternating between
repetitions. The docs section written by ``--write`` (docs/benchmarks-ducklake.md) says what
each side does and guarantees; the results also go to docs/benchmarks-ducklake.json, and
``--add`` keeps the sizes of that file it does not measure (``--sizes 1000000 --add``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".bench-venv" / "ducklake"
ENGINE = "1.5.5"
PACKAGES = [f"duckdb=={ENGINE}", f"duckdb-extension-ducklake=={ENGINE}", "pytz"]


def ensure_engine() -> None:
    """Run under DuckDB 1.5.x with the DuckLake extension package, or re-run in the venv."""
    try:
        import duckdb_extension_ducklake  # noqa: F401

        ok = duckdb.__version__.startswith("1.5.")
    except ImportError:
        ok = False
    if ok:
        return
    python = VENV / "bin" / "python"
    if os.environ.get("NAVSNAP_DUCKLAKE_REEXEC"):
        sys.exit(f"{python} does not have DuckDB 1.5 and DuckLake; delete {VENV} and rerun")
    if not python.exists():
        print(f"== creating {VENV} (DuckDB {ENGINE} + DuckLake)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *PACKAGES, "-e", f"{ROOT}[bench]"],
            check=True,
        )
    env = {**os.environ, "NAVSNAP_DUCKLAKE_REEXEC": "1"}
    os.execve(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]], env)


if __name__ == "__main__":
    ensure_engine()

sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench import drop, fsync_tree, machine, timed  # noqa: E402
from bench_scale import (  # noqa: E402
    FIRST_YEAR,
    AfterEachSnapshot,
    Log,
    ident,
    literal,
    median,
    tree_bytes,
)

import navsnap  # noqa: E402
from navsnap.manifest import Manifest  # noqa: E402

RESULTS = ROOT / "docs" / "benchmarks-ducklake.json"
LAST_YEAR = FIRST_YEAR + 4
AS_OF = FIRST_YEAR + 2
LAKE = "lake"  # the alias of the lake in a materialization's own connection


def extension_file() -> Path:
    import duckdb_extension_ducklake

    base = Path(duckdb_extension_ducklake.__file__).parent
    found = sorted(base.glob("extensions/*/ducklake.duckdb_extension"))
    if not found:
        sys.exit(f"no ducklake.duckdb_extension under {base}")
    return found[0]


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()} if path.exists() else set()


#: DuckLake variants measured side by side: name -> (parquet_compression, level) options
#: ("" keeps DuckLake's own default, snappy in 1.5.5).
VARIANTS: dict[str, tuple[str, int | None]] = {
    "default": ("", None),
    "zstd1": ("zstd", 1),  # navsnap's own codec and level
}


def variant_label(name: str) -> str:
    codec, level = VARIANTS[name]
    return f"{codec} level {level}" if codec else "its default codec (snappy)"


@dataclass
class Rep:
    navsnap_s: dict[int, float] = field(default_factory=dict)
    lake_s: dict[str, dict[int, float]] = field(default_factory=dict)
    navsnap_bytes: int = 0
    lake_bytes: dict[str, int] = field(default_factory=dict)
    db_bytes: int = 0
    restore_s: float = 0.0
    materialize_s: dict[str, float] = field(default_factory=dict)


class LakeCommits:
    """After each navsnap snapshot: commit the same year-end to one DuckLake, timed.

    The first year creates every table in the lake from the database's (global tables whole,
    year tables with that year's rows); each later year inserts that year's rows of the
    year-scoped tables in one transaction. The caller knows what changed (the built-in
    simulation writes only year Y); navsnap finds it out by fingerprinting.
    """

    def __init__(self, *, variant: str, work: Path, ext: Path) -> None:
        self.variant, self.ext = variant, ext
        self.alias = f"lake_{variant}"
        self.catalog = work / f"{self.alias}.ducklake"
        self.data = work / f"{self.alias}-data"
        self.seconds: dict[int, float] = {}
        self.versions: dict[int, int] = {}
        self.attached = False

    def stored_bytes(self) -> int:
        catalog = sum(p.stat().st_size for p in self.catalog.parent.glob(self.catalog.name + "*"))
        return tree_bytes(self.data) + catalog

    def attach(self, con: duckdb.DuckDBPyConnection) -> None:
        """LOAD and ATTACH (not timed: a pipeline keeps its lake attached for the run)."""
        con.execute(f"LOAD {literal(str(self.ext))}")
        con.execute(
            f"ATTACH {literal('ducklake:' + str(self.catalog))} AS {self.alias} "
            f"(DATA_PATH {literal(str(self.data) + '/')})"
        )
        codec, level = VARIANTS[self.variant]
        if codec:
            con.execute(f"CALL {self.alias}.set_option('parquet_compression', {literal(codec)})")
        if level is not None:
            con.execute(f"CALL {self.alias}.set_option('parquet_compression_level', {level})")
        self.attached = True

    def commit(self, manifest: Manifest, con: duckdb.DuckDBPyConnection) -> None:
        year = manifest.year
        if not self.attached:
            self.attach(con)
        before = files_under(self.data)
        lake = self.alias

        def commit() -> None:
            con.execute("BEGIN TRANSACTION")
            for t in manifest.tables:
                src = f"{ident(t.schema)}.{ident(t.table)}"
                dest = f"{lake}.{ident(t.schema)}.{ident(t.table)}"
                where = f" WHERE {ident(t.year_column)} = {year}" if t.year_column else ""
                if year == FIRST_YEAR:
                    if t.schema != "main":
                        con.execute(f"CREATE SCHEMA IF NOT EXISTS {lake}.{ident(t.schema)}")
                    con.execute(f"CREATE TABLE {dest} AS SELECT * FROM {src}{where}")
                elif t.year_column:
                    con.execute(f"INSERT INTO {dest} SELECT * FROM {src}{where}")
            con.execute("COMMIT")
            # Durability as navsnap's: the new data files and the catalog on disk.
            for p in files_under(self.data) - before:
                fsync_tree(p)
            for p in (self.catalog, self.catalog.with_name(self.catalog.name + ".wal")):
                if p.exists():
                    fsync_tree(p)

        self.seconds[year] = timed(commit)
        row = con.execute(f"SELECT max(snapshot_id) FROM {lake}.snapshots()").fetchone()
        assert row is not None
        self.versions[year] = int(row[0])


class EachYear:
    """The hook's action: record navsnap's snapshot time, then commit every lake in turn."""

    def __init__(self, lakes: list[LakeCommits], log: Log) -> None:
        self.lakes, self.log = lakes, log
        self.snap_seconds: dict[int, float] = {}

    def __call__(self, manifest: Manifest, con: duckdb.DuckDBPyConnection, snap_s: float) -> None:
        self.snap_seconds[manifest.year] = snap_s
        for lake in self.lakes:
            lake.commit(manifest, con)
        commits = ", ".join(f"{x.variant} {x.seconds[manifest.year]:.3f} s" for x in self.lakes)
        self.log(f"   {manifest.year}: navsnap snapshot {snap_s:.3f} s; DuckLake {commits}")


def materialize(
    *, ext: Path, catalog: Path, data: Path, version: int, ddl: list[str], tables: list[str],
    out: Path,
) -> None:  # fmt: skip
    """A DuckDB file as of ``version``: every table created with the source's own DDL
    (constraints included), filled from the lake's version, CHECKPOINT, fsync."""
    con = duckdb.connect(str(out))
    try:
        con.execute(f"LOAD {literal(str(ext))}")
        con.execute(
            f"ATTACH {literal('ducklake:' + str(catalog))} AS {LAKE} "
            f"(DATA_PATH {literal(str(data) + '/')}, READ_ONLY)"
        )
        for sql in ddl:
            con.execute(sql)
        for name in tables:
            con.execute(f"INSERT INTO {name} SELECT * FROM {LAKE}.{name} AT (VERSION => {version})")
        con.execute(f"DETACH {LAKE}")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    fsync_tree(out)


def source_schema(db: Path) -> tuple[list[str], list[str]]:
    """The run's tables: their CREATE statements (in creation order) and qualified names."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT schema_name, table_name, sql FROM duckdb_tables() "
            "WHERE database_name = current_database() AND NOT internal ORDER BY table_oid"
        ).fetchall()
    finally:
        con.close()
    schemas = sorted({s for s, _, _ in rows if s != "main"})
    ddl = [f"CREATE SCHEMA IF NOT EXISTS {ident(s)}" for s in schemas] + [r[2] for r in rows]
    return ddl, [f"{ident(s)}.{ident(t)}" for s, t, _ in rows]


def row_counts(db: Path, tables: list[str]) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for t in tables:
            row = con.execute(f"SELECT count(*) FROM {t}").fetchone()
            out[t] = int(row[0]) if row else -1
        return out
    finally:
        con.close()


def one_rep(n: int, i: int, *, work: Path, variants: list[str], log: Log) -> Rep:
    work.mkdir(parents=True, exist_ok=True)
    cfg = navsnap.load_config(overrides={"simulation.employees": n}, search_cwd=False)
    db, store = work / "sim.duckdb", work / "store"
    ext = extension_file()
    lakes = [LakeCommits(variant=v, work=work, ext=ext) for v in variants]
    each = EachYear(lakes, log)
    hook = AfterEachSnapshot(db=db, store=store, last=LAST_YEAR, then=each)
    navsnap.run(
        cfg,
        db=db,
        years=(FIRST_YEAR, LAST_YEAR),
        store=str(store),
        on_event=hook,
        progress=hook.progress,
    )
    r = Rep(navsnap_s=dict(each.snap_seconds))
    r.lake_s = {x.variant: dict(x.seconds) for x in lakes}
    r.navsnap_bytes = tree_bytes(store)
    r.lake_bytes = {x.variant: x.stored_bytes() for x in lakes}
    r.db_bytes = db.stat().st_size
    ddl, tables = source_schema(db)
    ours = work / "restored.duckdb"

    def do_restore() -> None:
        navsnap.restore(store=store, db=db, year=AS_OF, to=ours)

    outs = {x.variant: work / f"materialized-{x.variant}.duckdb" for x in lakes}

    def do_materialize(lake: LakeCommits) -> None:
        out = outs[lake.variant]
        r.materialize_s[lake.variant] = timed(
            lambda: materialize(ext=ext, catalog=lake.catalog, data=lake.data,
                                version=lake.versions[AS_OF], ddl=ddl, tables=tables, out=out)
        )  # fmt: skip

    # One group per repetition: navsnap first in even repetitions, last in odd ones.
    if i % 2 == 0:
        r.restore_s = timed(do_restore)
        for lake in lakes:
            do_materialize(lake)
    else:
        for lake in lakes[::-1]:
            do_materialize(lake)
        r.restore_s = timed(do_restore)
    expected = row_counts(ours, tables)
    drop(ours)
    for v, out in outs.items():
        theirs = row_counts(out, tables)
        drop(out)
        if theirs != expected:
            raise RuntimeError(
                f"{v}: the files as of {AS_OF} differ in rows: {expected} vs {theirs}"
            )
    made = ", ".join(f"{v} {s:.2f} s" for v, s in r.materialize_s.items())
    sizes = ", ".join(f"{v} {b / 1e6:.1f} MB" for v, b in r.lake_bytes.items())
    log(
        f"   as of {AS_OF}: navsnap restore {r.restore_s:.2f} s; DuckLake {made}; "
        f"bytes navsnap {r.navsnap_bytes / 1e6:.1f} MB, DuckLake {sizes}"
    )
    return r


# --------------------------------------------------------------------------- report


def render(results: dict[int, list[Rep]], *, variants: list[str], commands: list[list[str]]) -> str:
    made = ", then ".join(f"`{c}` on {d}" for c, d in commands)
    lines = [
        "# Benchmarks: navsnap and DuckLake",
        "",
        f"Generated by {made}.",
        f"Machine: {machine()}.",
        "",
        "DuckLake is the snapshot format a DuckDB user might pick instead of navsnap. It needs "
        "DuckDB 1.5.x, so both sides run here under DuckDB 1.5.5 (the script makes its own "
        "environment). Medians over the repetitions; each repetition is one run in which "
        "navsnap's snapshot and the DuckLake commits of each year-end alternate (method "
        "below). DuckLake is measured twice in the same run: with its default Parquet codec "
        "and with navsnap's (zstd level 1). Absolute seconds on this shared machine drift by "
        "tens of percent; the ratios are the claim.",
        "",
        "| employees | measure | DuckLake's Parquet codec | navsnap | DuckLake "
        "| DuckLake / navsnap | navsnap / DuckLake | reps |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for n, reps in results.items():
        snap = median(sum(r.navsnap_s.values()) for r in reps)
        nb = median(r.navsnap_bytes for r in reps)
        rs = median(r.restore_s for r in reps)
        for v in variants:
            lake = median(sum(r.lake_s[v].values()) for r in reps)
            lb = median(r.lake_bytes[v] for r in reps)
            ms = median(r.materialize_s[v] for r in reps)
            rows = [
                ("5 yearly snapshots / commits, 2025-2029", f"{snap:.2f} s", f"{lake:.2f} s",
                 lake / snap),
                ("bytes stored after 2029", f"{nb / 1e6:,.1f} MB", f"{lb / 1e6:,.1f} MB",
                 lb / nb),
                (f"a database file as of {AS_OF}", f"{rs:.2f} s", f"{ms:.2f} s", ms / rs),
            ]  # fmt: skip
            for name, a, b, ratio in rows:
                lines.append(
                    f"| {n:,} | {name} | {variant_label(v)} | {a} | {b} | {ratio:.2f}x | "
                    f"{1 / ratio:.2f}x | {len(reps)} |"
                )
    lines += [
        "",
        "Each year, medians (seconds):",
        "",
        "| employees | year | navsnap snapshot | "
        + " | ".join(f"DuckLake commit, {variant_label(v)}" for v in variants)
        + " |",
        "|---:|---:|---:|" + "---:|" * len(variants),
    ]
    for n, reps in results.items():
        for year in range(FIRST_YEAR, LAST_YEAR + 1):
            ys = median(r.navsnap_s[year] for r in reps)
            cells = " | ".join(f"{median(r.lake_s[v][year] for r in reps):.3f}" for v in variants)
            lines.append(f"| {n:,} | {year} | {ys:.3f} | {cells} |")
    lines += [
        "",
        "## Method",
        "",
        "- Workload: the built-in simulation, 2025-2029, default configuration except "
        "`simulation.employees`. Both sides in one process under DuckDB 1.5.5, default "
        "threads, the DuckLake extension 1.5.5 LOADed from the file its PyPI package ships.",
        "- Each repetition is one `navsnap.run` with snapshots to a local store. Its "
        "`on_event` callback holds each next year back until the year's snapshot has "
        "committed (so the snapshot runs alone, not overlapped with the next year as in a "
        "normal run) and then commits the same year-end to a DuckLake (catalog a DuckDB file, "
        "data files in a local folder) on a second connection to the same database instance. "
        "The snapshot always goes first, each year, with the data already in memory for both.",
        "- navsnap's time runs from the end of the year's step (the run's `progress` report) "
        "to the write of the snapshot's manifest; DuckLake's is its transaction "
        "(BEGIN to COMMIT) plus an fsync of the data files it created and of its catalog "
        "file. LOAD and ATTACH happen once, before the first commit, untimed.",
        "- DuckLake's first commit creates every table from the database (global tables "
        "whole, year tables with 2025's rows); each later one inserts that year's rows of "
        "the three year-scoped tables. It is told what changed; navsnap finds out itself. "
        "Each DuckLake variant is its own lake, committed in turn after the snapshot.",
        "- As of 2027, once per repetition and variant, navsnap first in even repetitions "
        "and last in odd ones: navsnap "
        "`restore(year=2027, to=new file)`; DuckLake: a fresh `.duckdb`, LOAD, ATTACH the "
        "lake read-only, every table created with the source database's own `CREATE TABLE` "
        "(constraints included), `INSERT ... SELECT * FROM lake.t AT (VERSION => v)` where "
        "`v` is the lake's version right after the 2027 commit, CHECKPOINT, fsync. The "
        "script checks that every file holds the same row count in every table.",
        "- Bytes: every file of navsnap's store vs the lake's data folder plus its catalog "
        "file(s). Parquet compression: navsnap zstd level 1; DuckLake as the table says "
        "(`CALL lake.set_option('parquet_compression', ...)` and `parquet_compression_level`).",
        "",
        "## What each side does and guarantees",
        "",
        "| | navsnap snapshot | DuckLake commit |",
        "|---|---|---|",
        "| finds what changed | fingerprints every partition in DuckDB (row count + sum of "
        "row hashes) and reuses unchanged ones | nothing: the caller inserts what changed |",
        "| stores | every table, the DDL with constraints, views, macros, comments, sequences "
        "| table data and column types; no PRIMARY KEY/UNIQUE, macros or this view (it uses "
        "a macro) |",
        "| checks recorded | per partition: rows, fingerprint, xxh3-128 and size of its "
        "object; validation aggregates of the year; config hash | per data file: row count, "
        "size and column statistics in the catalog; no content hash |",
        "| durability | objects fsynced, then the manifest written atomically (temp, fsync, "
        "rename, directory fsync) | catalog commit (DuckDB WAL), plus the data-file and "
        "catalog fsync this benchmark adds |",
        "| to a database file as of a year | `restore`: load into a new file, recompute counts "
        "and fingerprints and compare with the manifest, CHECKPOINT, fsync, rename | the "
        "materialization above; nothing is compared with recorded counts or hashes |",
        "",
        "Reproduce: `python scripts/bench_ducklake.py --write` (`--quick` for a 1-2 minute "
        "version; `--sizes 1000000 --add --write` adds 1M to the sizes already measured).",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20,000 employees, 2 reps")
    ap.add_argument("--sizes", default="", help="comma-separated employee counts")
    ap.add_argument("--reps", type=int, default=0, help="repetitions (default 3; 1 at 1M)")
    ap.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"DuckLake variants to measure (of {', '.join(VARIANTS)})",
    )
    ap.add_argument("--write", action="store_true", help="write docs/benchmarks-ducklake.*")
    ap.add_argument("--add", action="store_true", help="keep the other sizes of the .json")
    ap.add_argument("--workdir", default="", help="where to build (default: a temp dir)")
    args = ap.parse_args()
    sizes = [int(s) for s in (args.sizes or ("20000" if args.quick else "100000")).split(",")]
    reps = args.reps or (2 if args.quick else 3)
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        sys.exit(f"--variants: choose among {', '.join(VARIANTS)}")
    kept: dict[int, list[Rep]] = {}
    old_commands: list[list[str]] = []
    if args.add and RESULTS.exists():
        kept, old_variants, old_commands = load()
        if old_variants != variants:
            sys.exit(f"--add: {RESULTS} measured the variants {old_variants}")
        kept = {n: reps for n, reps in kept.items() if n not in sizes}
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="navsnap-lake-"))
    base.mkdir(parents=True, exist_ok=True)
    results: dict[int, list[Rep]] = {}
    t0 = time.perf_counter()

    def log(m: str) -> None:
        print(m, flush=True)

    try:
        for n in sizes:
            results[n] = []
            for i in range(reps if n < 1_000_000 else 1):
                log(f"== {n:,} employees, repetition {i + 1}")
                work = base / f"n{n}-{i}"
                shutil.rmtree(work, ignore_errors=True)
                results[n].append(one_rep(n, i, work=work, variants=variants, log=log))
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)
    log(f"== measured in {time.perf_counter() - t0:.0f} s")
    cmd = "python " + " ".join(["scripts/bench_ducklake.py", *sys.argv[1:]])
    commands = [*old_commands, [cmd, dt.date.today().isoformat()]]
    results = {**kept, **results}
    text = render(results, variants=variants, commands=commands)
    print(text)
    if args.write:
        (ROOT / "docs" / "benchmarks-ducklake.md").write_text(text)
        data = {
            "variants": variants,
            "commands": commands,
            "results": {str(n): [asdict(r) for r in reps] for n, reps in results.items()},
        }
        RESULTS.write_text(json.dumps(data, indent=1) + "\n")
    return 0


def load() -> tuple[dict[int, list[Rep]], list[str], list[list[str]]]:
    """The results docs/benchmarks-ducklake.json holds (JSON keys back to ints)."""
    data = json.loads(RESULTS.read_text())
    results: dict[int, list[Rep]] = {}
    for n, reps in data["results"].items():
        results[int(n)] = [
            Rep(
                navsnap_s={int(y): v for y, v in r["navsnap_s"].items()},
                lake_s={k: {int(y): v for y, v in d.items()} for k, d in r["lake_s"].items()},
                navsnap_bytes=r["navsnap_bytes"],
                lake_bytes=r["lake_bytes"],
                db_bytes=r["db_bytes"],
                restore_s=r["restore_s"],
                materialize_s=r["materialize_s"],
            )
            for r in reps
        ]
    return results, data["variants"], data["commands"]


if __name__ == "__main__":
    sys.exit(main())
