"""The toy pipeline, with a rendezvous: in year ``$NAVSNAP_TEST_PAUSE_YEAR`` the step
creates ``$NAVSNAP_TEST_PAUSE_DIR/ready`` and waits (up to 120 s) for ``go`` there, so a
test can act (e.g. stop the store's server) at a known moment of a run."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import duckdb
from toy_pipeline import step as toy_step


def step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    toy_step(con, year, config)
    if str(year) != os.environ.get("NAVSNAP_TEST_PAUSE_YEAR"):
        return
    folder = Path(os.environ["NAVSNAP_TEST_PAUSE_DIR"])
    (folder / "ready").touch()
    end = time.monotonic() + 120
    while not (folder / "go").exists() and time.monotonic() < end:
        time.sleep(0.05)
