"""Time one simulated year of the built-in model.

For each of ``--repeat`` rounds: a fresh database file gets the census and the first year
(untimed), then the second year is timed. Reports the median, min and max seconds and the
process's peak resident memory.

Example:
    .venv/bin/python scripts/bench_sim.py --employees 100000
    .venv/bin/python scripts/bench_sim.py --employees 1000000 --threads 2
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from navsnap.sim import SimulationParams, run_year


def _one_round(
    directory: Path, *, employees: int, threads: int, seed: int, year: int
) -> tuple[float, int]:
    """Seconds for the second simulated year, and the thread count DuckDB used."""
    path = directory / f"bench-{time.monotonic_ns()}.duckdb"
    con = duckdb.connect(str(path))
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        params = SimulationParams(employees=employees)
        run_year(con, year=year, params=params, seed=seed)
        row = con.execute("SELECT current_setting('threads')").fetchone()
        used = int(row[0]) if row else 0
        start = time.perf_counter()
        run_year(con, year=year + 1, params=params, seed=seed)
        return time.perf_counter() - start, used
    finally:
        con.close()
        for leftover in directory.glob(f"{path.name}*"):
            leftover.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=0, help="0 keeps DuckDB's default")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--year", type=int, default=2025, help="first year (untimed)")
    parser.add_argument("--dir", default=None, help="where the scratch databases go")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rounds = [
            _one_round(
                Path(tmp),
                employees=args.employees,
                threads=args.threads,
                seed=args.seed,
                year=args.year,
            )
            for _ in range(args.repeat)
        ]
    times = [seconds for seconds, _ in rounds]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = [
        ("employees", f"{args.employees:,}"),
        ("threads", str(rounds[0][1])),
        ("rounds", str(args.repeat)),
        ("median s", f"{statistics.median(times):.2f}"),
        ("min s", f"{min(times):.2f}"),
        ("max s", f"{max(times):.2f}"),
        ("peak RSS MiB", f"{peak_mib:,.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        sys.stdout.write(f"{key:<{width}}  {value:>12}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
