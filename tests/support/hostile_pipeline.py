"""A step whose tables have column names that could shadow the fingerprint's row alias."""

from __future__ import annotations

from typing import Any

import duckdb


def step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    """``settings(t, v)``: a global table whose ``v`` changes every year while ``t`` does not."""
    con.execute('CREATE TABLE IF NOT EXISTS settings (t INTEGER, v INTEGER, "T_" VARCHAR)')
    con.execute("DELETE FROM settings")
    con.execute("INSERT INTO settings VALUES (1, ?, 'same')", [year])
    con.execute("CREATE TABLE IF NOT EXISTS facts (simulation_year INTEGER, t INTEGER, v INTEGER)")
    con.execute("INSERT INTO facts VALUES (?, 1, ?)", [year, year * 10])
