#!/usr/bin/env python3
"""The project's one test command: lint, format check, type check, then the test suite.

Usage: python scripts/check.py [pytest args...]
It stops at the first failing stage and exits with its status.

The tests run in parallel, one pytest-xdist worker per CPU (``NAVSNAP_TEST_WORKERS`` sets
another number; 1, or ``-n``/``-p no:xdist`` among the arguments, decides it yourself).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

STAGES = [
    ("ruff check", [str(BIN / "ruff"), "check", "navsnap", "tests", "scripts"]),
    ("ruff format", [str(BIN / "ruff"), "format", "--check", "navsnap", "tests", "scripts"]),
    ("mypy", [sys.executable, "-m", "mypy", "navsnap", "scripts", "tests"]),
]


def main() -> int:
    for name, cmd in STAGES:
        print(f"== {name}", flush=True)
        rc = subprocess.call(cmd, cwd=ROOT)
        if rc != 0:
            print(f"== {name} failed (exit {rc})", flush=True)
            return rc
    print("== pytest", flush=True)
    # Bytecode caching on for the tests even where the environment turns it off: the suite
    # starts hundreds of `python -m navsnap` subprocesses, and compiling navsnap's sources in
    # each one would cost more than the command itself.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.call(
        [sys.executable, "-m", "pytest", *parallel(sys.argv[1:]), *sys.argv[1:]],
        cwd=ROOT,
        env=env,
    )


def parallel(args: list[str]) -> list[str]:
    """pytest-xdist options: one worker per CPU unless the caller chose. ``loadgroup`` keeps
    the cases that share an expensive fixture (``xdist_group``) on one worker."""
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        return []
    if any(a == "no:xdist" or a == "-pno:xdist" for a in args):
        return []
    if importlib.util.find_spec("xdist") is None:  # an environment installed before it
        return []
    workers = int(os.environ.get("NAVSNAP_TEST_WORKERS", os.cpu_count() or 1))
    return ["-n", str(workers), "--dist", "loadgroup"] if workers > 1 else []


if __name__ == "__main__":
    sys.exit(main())
