"""A small year-stepped pipeline used by the tests as a Python-callable step.

It exercises what restore must rebuild: a sequence, a table with PRIMARY KEY / NOT NULL /
CHECK / DEFAULT, a foreign key, a macro used by a view, a view over a view, a second schema,
and year-partitioned tables whose earlier years never change.
"""

from __future__ import annotations

from typing import Any

import duckdb

SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS seq_event START 100;
CREATE TABLE IF NOT EXISTS dim_region (
    region_id INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS people (
    person_id INTEGER PRIMARY KEY,
    region_id INTEGER NOT NULL REFERENCES dim_region(region_id),
    salary DECIMAL(12, 2) NOT NULL CHECK (salary > 0),
    status VARCHAR DEFAULT 'active'
);
CREATE TABLE IF NOT EXISTS yearly (
    simulation_year INTEGER NOT NULL,
    person_id INTEGER NOT NULL,
    pay DECIMAL(14, 2),
    note VARCHAR,
    event_id BIGINT DEFAULT nextval('seq_event')
);
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.log (simulation_year INTEGER, msg VARCHAR);
CREATE OR REPLACE MACRO yearly_pay(y) AS TABLE SELECT * FROM yearly WHERE simulation_year = y;
CREATE OR REPLACE MACRO bump(x) AS x * 2;
CREATE OR REPLACE VIEW v_pay AS SELECT simulation_year, sum(pay) AS pay FROM yearly GROUP BY 1;
CREATE OR REPLACE VIEW v_pay2 AS SELECT simulation_year, bump(pay) AS pay2 FROM v_pay;
"""


def step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'people'"
    ).fetchone()
    if not exists or exists[0] == 0:
        con.execute(SCHEMA)
        con.execute("INSERT INTO dim_region VALUES (1, 'north'), (2, 'south')")
        con.execute(
            "INSERT INTO people SELECT i, 1 + i % 2, 1000 + i, NULL FROM range(1, 201) t(i)"
        )
    con.execute(
        """
        INSERT INTO yearly (simulation_year, person_id, pay, note)
        SELECT ?, person_id, salary * (1 + (? - 2000) / 100), 'y' || ?
        FROM people ORDER BY person_id
        """,
        [year, year, year],
    )
    con.execute("INSERT INTO audit.log VALUES (?, 'done')", [year])


def failing_step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    if year >= 2027:
        raise RuntimeError("boom in the model")
    step(con, year, config)


def exiting_step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    """Writes its year, then calls sys.exit(0) in 2026 (as a script's main() might)."""
    step(con, year, config)
    if year >= 2026:
        raise SystemExit(0)


def closing_step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    """Writes its year, then closes the connection it was given."""
    step(con, year, config)
    con.close()
