"""The toy pipeline, plus steps that break the "writes only year Y" contract on purpose.

``LEAN_BREAK`` = ``"<how>:<year>"`` makes the step, when it runs that year, also change a
row of the first year: ``update`` (same row count) or ``delete`` (one row fewer).
"""

from __future__ import annotations

import os
from typing import Any

import duckdb
from toy_pipeline import step as toy_step


def step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    toy_step(con, year, config)
    how, _, when = os.environ.get("LEAN_BREAK", "").partition(":")
    if not how or int(when) != year:
        return
    first = con.execute("SELECT min(simulation_year) FROM yearly").fetchone()
    assert first is not None
    if how == "update":
        con.execute(
            "UPDATE yearly SET pay = pay + 1 WHERE simulation_year = ? AND person_id = 7",
            [first[0]],
        )
    elif how == "delete":
        con.execute("DELETE FROM yearly WHERE simulation_year = ? AND person_id = 7", [first[0]])
    else:
        raise ValueError(how)
