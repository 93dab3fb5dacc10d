"""``navsnap --version`` and ``navsnap status`` start without what they do not use.

Each runs in a fresh interpreter (imports are per process) and reports ``sys.modules``; the
modules below are what made start-up slow (pyarrow, fsspec, s3fs, filelock) or belong to
other commands (running a year, snapshots, restores, analysts). Speed itself is measured by
``scripts/bench.py --only startup``, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import TESTS, TOY_STEP, pythonpath

import navsnap
from navsnap import statcache

#: Never imported by --version or status.
HEAVY = (
    "pyarrow",
    "fsspec",
    "s3fs",
    "filelock",
    "navsnap.runner",
    "navsnap.snapshot",
    "navsnap.analyst",
    "navsnap.lock",
    "navsnap.restore.pipeline",
    "navsnap.restore.build",
    "navsnap.sim.model",
    "navsnap.sim.validation",
    "navsnap.cli.progress",
)

#: What fingerprinting the database needs: not imported when status answers from its stat cache.
SCAN = ("navsnap.compare", "navsnap.materialize")

#: What only a remote store uses (its object cache, deadlines, thread pools): never imported by
#: status on a local store.
REMOTE = ("navsnap.store.cache", "navsnap.store.deadline", "concurrent.futures")

_PROBE = """
import json, sys
from navsnap.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""

#: How many SQL texts (DDL, column types) DuckDB's parser checked in the process.
_PARSES = """
import json, sys
from navsnap.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
from navsnap import manifest_check as mc
print(len(mc._ACCEPTED) + mc._parsed.cache_info().misses + mc._type_parses.cache_info().misses,
      file=sys.stderr)
"""


def _probe(script: str, args: list[str], cwd: Path) -> str:
    """The last line ``script`` (run with ``args`` in a fresh interpreter) wrote to stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": pythonpath(TESTS)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.stderr.strip().splitlines()[-1]


def _modules(args: list[str], cwd: Path) -> set[str]:
    loaded: list[str] = json.loads(_probe(_PROBE, args, cwd))
    return set(loaded)


def _parses(args: list[str], cwd: Path) -> int:
    return int(_probe(_PARSES, args, cwd))


def _heavy(loaded: set[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in heavy))


def test_version_imports_neither_duckdb_nor_the_heavy_modules(tmp_path: Path) -> None:
    loaded = _modules(["--version"], tmp_path)
    assert "navsnap.cli" in loaded
    assert _heavy(loaded) == [] and "duckdb" not in loaded


def test_status_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    (tmp_path / "navsnap.toml").write_text(f'[run]\nstep = "{TOY_STEP}"\nyears = "2025-2026"\n')
    config = navsnap.load_config(tmp_path / "navsnap.toml")
    navsnap.run(config, db=tmp_path / "simulation.duckdb", years=(2025, 2026))
    time.sleep(statcache.RACY_NS / 1e9 + 0.2)  # past the margin: the record will be trusted
    scanned = _modules(["status", "--deep"], tmp_path)
    assert "navsnap.resume" in scanned and "navsnap.compare" in scanned  # it did decide
    assert _heavy(scanned, HEAVY + REMOTE) == []
    cached = _modules(["status"], tmp_path)
    assert "navsnap.statcache" in cached
    assert _heavy(cached, HEAVY + SCAN + REMOTE) == []
    # Nor DuckDB itself (about 0.2 s): the record is keyed on its installed version.
    assert "duckdb" in scanned and "duckdb" not in cached
    # Nor does it parse the manifests' SQL (docs/concepts.md): a full check does.
    assert _parses(["status"], tmp_path) == 0
    assert _parses(["status", "--deep"], tmp_path) > 0
