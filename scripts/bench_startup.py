#!/usr/bin/env python3
"""Start-up time of the CLI against `python -c "import duckdb"`, interleaved, medians.

Usage: python scripts/bench_startup.py [--reps N]

Measures `navsnap --version`, `navsnap status` on a small finished run (which imports DuckDB
and reads the store) and `navsnap list`, each against the same interpreter importing DuckDB
alone, in the same loop. navsnap's modules are byte-compiled first, as a pip install does.
Target (issue 16): --version and status at most 1.3x the DuckDB import.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    compileall.compile_dir(ROOT / "navsnap", quiet=1)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="navsnap-startup-") as tmp:
        work = Path(tmp)
        (work / "navsnap.toml").write_text("[simulation]\nemployees = 200\n")
        subprocess.run([py, "-m", "navsnap", "-q", "run", "--years", "2025-2026"], cwd=work,
                       check=True)  # fmt: skip
        cases = {
            "import duckdb": [py, "-c", "import duckdb"],
            "navsnap --version": [py, "-m", "navsnap", "--version"],
            "navsnap status": [py, "-m", "navsnap", "status", "--years", "2025-2026"],
            "navsnap list": [py, "-m", "navsnap", "list"],
        }
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.reps):
            for name, cmd in cases.items():
                times[name].append(timed(cmd, work))
    base = statistics.median(times["import duckdb"])
    print("| command | median | vs import duckdb |\n|---|---:|---:|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| `{name}` | {med * 1000:.0f} ms | {med / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
