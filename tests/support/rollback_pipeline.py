"""The toy pipeline with a bug that a later fix corrects, without changing the lineage.

``FIXED`` stands for a fix outside the configuration (a corrected data file that is not a
declared input, a patched library): the same configuration hash, different 2027+ rows.
"""

from __future__ import annotations

from typing import Any

import duckdb
from toy_pipeline import step as toy_step

FIXED = False


def step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    toy_step(con, year, config)
    if year >= 2027:
        note = "fixed" if FIXED else "buggy"
        con.execute("UPDATE yearly SET note = ? WHERE simulation_year = ?", [note, year])
