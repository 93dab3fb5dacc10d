#!/usr/bin/env python3
"""Lean snapshots measured: the snapshot a run takes of its last year, lean and deep, against
DuckDB's COPY of the same rows; and a 5-year run with snapshots against the same run without.

A reference run of 2025-2028 is built once. Each repetition then copies its database and
store and runs 2029 with ``--resume`` (the resume checks the database against 2028's
snapshot, so 2029's snapshot is lean) and again with ``[snapshot] deep_every = 1`` (deep);
the snapshot's own seconds come from the run's report (the last year's snapshot is not
overlapped with a step). COPY writes the 2029 rows of the year tables to zstd Parquet and
fsyncs them, as navsnap does. Everything is interleaved; medians are printed, and ratios as
the median of each side-by-side pair's ratio.

Usage: python scripts/bench_lean.py [--employees 100000] [--reps 3] [--workdir DIR]
Runtime: ~4 min at 100,000 employees with 3 repetitions; ~25 min at 1,000,000.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

import navsnap
from navsnap.config import load_config


def _fsync_tree(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--employees", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--no-run", action="store_true", help="skip the 5-year run pair")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="navsnap-lean-"))
    work.mkdir(parents=True, exist_ok=True)

    def cfg(**over: object) -> navsnap.Config:
        return load_config(
            overrides={"simulation.employees": args.employees, **over}, search_cwd=False
        )

    ref_db, ref_store = work / "ref.duckdb", work / "ref-store"
    navsnap.run(cfg(), db=ref_db, years="2025-2028", store=str(ref_store))
    lean: list[float] = []
    deep: list[float] = []
    copy: list[float] = []
    for i in range(args.reps):
        for kind, out in (("lean", lean), ("deep", deep)):
            db, store = work / f"{kind}{i}.duckdb", work / f"{kind}{i}-store"
            shutil.copyfile(ref_db, db)
            shutil.copytree(ref_store, store)
            over = {"snapshot.deep_every": 1} if kind == "deep" else {}
            report = navsnap.run(
                cfg(**over), db=db, years="2025-2029", store=str(store), resume=True
            )
            out.append(report.years_run[-1].snapshot_seconds)
            if kind == "lean":
                copy_src = db
            else:
                db.unlink()
                shutil.rmtree(store)
        dest = work / f"copy{i}"
        dest.mkdir()
        con = duckdb.connect(str(copy_src), read_only=True)
        t0 = time.perf_counter()
        for t in ("fct_workforce_snapshot", "fct_yearly_events", "int_employee_contributions"):
            con.execute(
                f"COPY (SELECT * FROM {t} WHERE simulation_year = 2029) TO "
                f"'{dest / (t + '.parquet')}' (FORMAT parquet, COMPRESSION zstd, "
                "COMPRESSION_LEVEL 1)"
            )
        _fsync_tree(dest)
        copy.append(time.perf_counter() - t0)
        con.close()
        shutil.rmtree(dest)
        copy_src.unlink()
        shutil.rmtree(work / f"lean{i}-store")
        print(
            f"rep {i}: lean {lean[-1]:.2f}s deep {deep[-1]:.2f}s COPY {copy[-1]:.2f}s", flush=True
        )
    m = statistics.median
    # the median of the per-repetition ratios: each pair ran side by side
    lean_x = m(a / b for a, b in zip(lean, copy, strict=True))
    deep_x = m(a / b for a, b in zip(deep, copy, strict=True))
    print(
        f"{args.employees:,} employees: 2029 snapshot lean {m(lean):.2f}s ({lean_x:.2f}x COPY), "
        f"deep {m(deep):.2f}s ({deep_x:.2f}x COPY), COPY {m(copy):.2f}s"
    )
    if not args.no_run:
        with_s: list[float] = []
        without: list[float] = []
        for i in range(args.reps):
            for snaps, out in ((True, with_s), (False, without)):
                db, store = work / f"run{i}{snaps}.duckdb", work / f"run{i}-store"
                t0 = time.perf_counter()
                navsnap.run(cfg(), db=db, years="2025-2029", store=str(store), snapshots=snaps)
                out.append(time.perf_counter() - t0)
                db.unlink()
                shutil.rmtree(store, ignore_errors=True)
            print(f"rep {i}: run with {with_s[-1]:.2f}s without {without[-1]:.2f}s", flush=True)
        run_x = m(a / b for a, b in zip(with_s, without, strict=True))
        print(
            f"{args.employees:,} employees: 5-year run with snapshots {m(with_s):.2f}s / without "
            f"{m(without):.2f}s: {run_x:.2f}x (median of the pairs' ratios)"
        )
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
