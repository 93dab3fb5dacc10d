#!/usr/bin/env python3
"""``navsnap status`` right after a restore: with the record the restore leaves, and without.

Usage: python scripts/bench_restrec.py [--size 100000] [--reps 5] [--workdir DIR]

A reference run (2025-2029) is built once (kept in ``--workdir`` between invocations). Each
repetition restores it twice into ``<workdir>/w/sim.duckdb`` (same database name, so
``status`` scopes the same snapshots): a delta (2027's partitions lost a seventh of their
rows) and a full restore (the file deleted). After each, ``navsnap status`` runs in a new
process twice, in alternating order: with the record the restore left ("after": answered
from it), and with it removed ("before": what a restore left until now, so ``status``
fingerprints the database). Wall and CPU (user + system) of each process; medians and the
ratio after/before, measured in the same loop. The restore's own cost of writing the record
(its ``record_s`` timing) is printed too.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import YEARS, config

import navsnap
from navsnap import statcache


def status(cmd: list[str], cwd: Path, *, cached: bool) -> tuple[float, float]:
    """(wall, CPU) of one ``status --json`` process; checks where its answer came from."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = json.loads(out.stdout)
    assert found["from_cache"] is cached, found
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="navsnap-restrec-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.size
    ref, store = work / "sim.duckdb", work / "store"
    if not ref.exists():
        print(f"building the reference run ({n:,} employees, {YEARS[0]}-{YEARS[1]})", flush=True)
        navsnap.run(config(n), db=ref, years=YEARS, store=str(store))
    last = navsnap.show(store, "latest", db=ref)
    year_tables = [t.name for t in last.tables if t.year_column]
    wdir = work / "w"
    wdir.mkdir(exist_ok=True)
    db = wdir / "sim.duckdb"
    py = sys.executable
    cmd = [py, "-m", "navsnap", "status", "--json", "--employees", str(n)]
    cmd += ["--years", f"{YEARS[0]}-{YEARS[1]}", "--db", str(db), "--store", str(store)]
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    record_s: dict[str, list[float]] = {"delta": [], "full": []}
    for rep in range(args.reps):
        for kind in ("delta", "full"):
            for p in wdir.iterdir():
                p.unlink()
            if kind == "delta":
                shutil.copyfile(ref, db)
                con = duckdb.connect(str(db))
                for t in year_tables:
                    con.execute(
                        f'DELETE FROM "{t}" WHERE simulation_year = 2027 AND employee_id % 7 = 0'
                    )
                con.close()
            report = navsnap.restore(store=store, db=db, snapshot=last.snapshot_id)
            assert report.plan.strategy == kind, report.plan.strategy
            record_s[kind].append(report.timings.get("record_s", float("nan")))
            rec = statcache.cache_path(db)
            saved = rec.read_bytes()
            order = ("after", "before") if rep % 2 == 0 else ("before", "after")
            for case in order:
                if case == "before":
                    rec.unlink(missing_ok=True)
                else:
                    rec.write_bytes(saved)
                took = status(cmd, wdir, cached=case == "after")
                times.setdefault((kind, case), []).append(took)
    print(f"\n{n:,} employees, {args.reps} reps, interleaved; load {_load()}")
    for kind in ("delta", "full"):
        for i, what in enumerate(("wall", "CPU")):
            after = statistics.median(t[i] for t in times[(kind, "after")])
            before = statistics.median(t[i] for t in times[(kind, "before")])
            print(
                f"status after a {kind} restore, {what}: with the record {after:.3f} s, "
                f"without {before:.3f} s: {after / before:.2f}x"
            )
        print(f"  the {kind} restore's record_s: median {statistics.median(record_s[kind]):.4f} s")
    return 0


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


if __name__ == "__main__":
    raise SystemExit(main())
