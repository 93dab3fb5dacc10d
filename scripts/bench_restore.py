#!/usr/bin/env python3
"""Restore timings only: full restore vs IMPORT DATABASE, delta restore vs full restore.

Usage: python scripts/bench_restore.py [--sizes 100000] [--reps 3] [--workdir DIR] [--profile]

The same pairs as scripts/bench.py (interleaved, medians, ratios), without the rest of the
benchmark, so the restore path can be measured while it is being worked on. A workdir keeps
the reference run and its EXPORT between invocations. ``--profile`` prints a cProfile of one
full and one delta restore instead. CPU seconds are printed too: on a machine shared with
other work they vary less than wall time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import YEARS, config, cpu_seconds, damaged_copy, drop, fsync_tree

import navsnap
from navsnap.index import read_all
from navsnap.store import open_store

CPU: dict[int, list[float]] = {}


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of ``fn``; its CPU seconds (this process, every thread) go to ``CPU``."""
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    CPU.setdefault(id(fn), []).append(cpu_seconds() - c0)
    return wall


def prepare(n: int, work: Path) -> tuple[Path, Path, Path, str, list[str]]:
    work.mkdir(parents=True, exist_ok=True)
    db, store, export = work / "sim.duckdb", work / "store", work / "export"
    if not (work / "ready").exists():
        for p in (db, store, export):
            drop(p)
        navsnap.run(config(n), db=db, years=YEARS, store=str(store))
        con = duckdb.connect(str(db), read_only=True)
        con.execute(f"EXPORT DATABASE '{export}' (FORMAT parquet, COMPRESSION zstd)")
        con.close()
        (work / "ready").touch()
    manifests, _ = read_all(open_store(store))
    last = manifests[-1]
    year_tables = [t.name for t in last.tables if t.year_column]
    return db, store, export, last.snapshot_id, year_tables


def bench_size(n: int, reps: int, work: Path, *, profile: bool) -> None:
    db, store, export, snap, year_tables = prepare(n, work)
    out, imp, live = work / "out.duckdb", work / "imp.duckdb", work / "live.duckdb"

    def full() -> None:
        navsnap.restore(store=store, db=db, snapshot=snap, to=out)

    def delta() -> None:
        navsnap.restore(store=store, db=live, snapshot=snap)

    def do_import() -> None:
        con = duckdb.connect(str(imp))
        con.execute(f"IMPORT DATABASE '{export}'")
        con.execute("CHECKPOINT")
        con.close()
        fsync_tree(imp)

    if profile:
        drop(out)
        for name, fn in (("full", full), ("delta", delta)):
            if name == "delta":
                damaged_copy(db, live, year_tables)
            prof = cProfile.Profile()
            prof.runcall(fn)
            print(f"==== {name} restore, {n:,}")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(35)
        return
    t: dict[str, list[float]] = {"full": [], "import": [], "delta": [], "full2": []}
    for _ in range(reps):
        drop(out)
        t["full"].append(timed(full))
        drop(imp)
        t["import"].append(timed(do_import))
        damaged_copy(db, live, year_tables)
        t["delta"].append(timed(delta))
        drop(out)
        t["full2"].append(timed(full))
    for p in (out, imp, live):
        drop(p)
    med = {k: statistics.median(v) for k, v in t.items()}
    full_all = statistics.median(t["full"] + t["full2"])
    print(
        f"{n:>9,}: full {med['full']:.2f}s / IMPORT {med['import']:.2f}s = "
        f"{med['full'] / med['import']:.2f}x; delta {med['delta']:.2f}s / full "
        f"{full_all:.2f}s = {med['delta'] / full_all:.2f}x"
    )
    print("   raw:", {k: [round(x, 2) for x in v] for k, v in t.items()})
    cpu = {name: statistics.median(CPU[id(fn)]) for name, fn in
           (("full", full), ("import", do_import), ("delta", delta))}  # fmt: skip
    print(
        f"   CPU seconds (medians): full {cpu['full']:.2f} / IMPORT {cpu['import']:.2f} = "
        f"{cpu['full'] / cpu['import']:.2f}x; delta {cpu['delta']:.2f} / full = "
        f"{cpu['delta'] / cpu['full']:.2f}x"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workdir", default="/tmp/navsnap-bench-restore")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        bench_size(n, args.reps, Path(args.workdir) / str(n), profile=args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
