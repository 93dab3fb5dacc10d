"""A Python step that records the environment it sees (``ENV_DUMP_DIR``), then runs the toy
pipeline's year: the store key must not be in it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import toy_pipeline


def step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    out = Path(os.environ["ENV_DUMP_DIR"]) / f"python-{year}.json"
    out.write_text(json.dumps(dict(os.environ)))
    toy_pipeline.step(con, year, config)
