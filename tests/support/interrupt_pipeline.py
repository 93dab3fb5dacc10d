"""Steps that give a test a moment to press Ctrl-C: the toy pipeline, plus, the first time
year 2027 runs, a long DuckDB query (Python step) or a long sleep (shell step).

``NAVSNAP_TEST_MARKER`` names a file the step creates just before it starts waiting; the
test sends SIGINT only once the file exists (and the query has used CPU), never after a
guessed delay. Once the marker exists the steps are plain toy steps, so a resumed run ends
with the toy pipeline's tables.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
from toy_pipeline import step as toy_step

SLOW_YEAR = 2027


def _marker() -> Path:
    return Path(os.environ["NAVSNAP_TEST_MARKER"])


def query_step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    """The toy step; in 2027 (first time only) then a query that runs for minutes."""
    toy_step(con, year, config)
    marker = _marker()
    if year != SLOW_YEAR or marker.exists():
        return
    con.execute("SET enable_progress_bar = false")
    marker.write_text("query\n")
    try:
        con.execute("SELECT sum(i % 7) FROM range(1000000000000) t(i)").fetchall()
    except BaseException as exc:  # record where the interrupt landed, then let it go on
        with marker.open("a") as f:
            f.write(f"raised in the query: {type(exc).__name__}: {exc}\n")
        raise
    with marker.open("a") as f:
        f.write("the query finished\n")


def shell_main() -> None:
    """``python interrupt_pipeline.py DB YEAR``: the toy step over its own connection; in
    2027 (first time only) it then sleeps for minutes."""
    db, year = sys.argv[1], int(sys.argv[2])
    con = duckdb.connect(db)
    try:
        toy_step(con, year, None)
    finally:
        con.close()
    marker = _marker()
    if year == SLOW_YEAR and not marker.exists():
        marker.write_text("shell\n")
        time.sleep(600)


if __name__ == "__main__":
    shell_main()
