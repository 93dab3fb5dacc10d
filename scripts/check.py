#!/usr/bin/env python3
"""The project's one test command: lint, format check, type check, then the test suite.

Usage: python scripts/check.py [pytest args...]
It stops at the first failing stage and exits with its status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

STAGES = [
    ("ruff check", [str(BIN / "ruff"), "check", "navsnap", "tests", "scripts"]),
    ("ruff format", [str(BIN / "ruff"), "format", "--check", "navsnap", "tests", "scripts"]),
    ("mypy", [sys.executable, "-m", "mypy", "navsnap"]),
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
    return subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
