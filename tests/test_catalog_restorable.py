"""Catalog objects whose restore needs more than each object's DDL run in a fixed order.

Macros with typed parameters and macros with overloads (one ``duckdb_functions()`` row per
overload), sequences that have handed out values (``currval`` and ``last_value``) or all of
them (at MAXVALUE or MINVALUE, NO CYCLE), and tables whose DEFAULT or CHECK calls a macro
that may itself read a table or a view. Each database is checkpointed and restored, and the
restored file is compared with the original through DuckDB's own catalog and by calling
what it holds, each opened afresh, as its user would open it.

Tiny databases, in-process: the core suite runs this file under every supported DuckDB.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

import navsnap
from navsnap import engine
from navsnap.config import load_config
from navsnap.index import resolve
from navsnap.restore.plan import plan_restore
from navsnap.store import open_store

pytestmark = pytest.mark.core

YEAR = 2026


def make(tmp_path: Path, sql: str) -> Path:
    """``model.duckdb`` built by ``sql`` (skipped when the running DuckDB cannot parse it:
    typed parameters and overloads are newer than some supported releases), snapshotted.
    The file is in the running DuckDB's newest storage (typed macro parameters need 1.4's)."""
    db = tmp_path / "model.duckdb"
    newest = {"storage_compatibility_version": "latest"} if engine.RUNNING >= (1, 1, 0) else {}
    con = duckdb.connect(str(db), config=newest)
    try:
        con.execute(sql)
    except duckdb.ParserException as exc:
        pytest.skip(f"DuckDB {duckdb.__version__} has no such syntax: {exc}")
    finally:
        con.close()
    navsnap.checkpoint(
        db=db, year=YEAR, store=tmp_path / "store", config=load_config(search_cwd=False)
    )
    return db


def restored(tmp_path: Path, db: Path) -> Path:
    """The snapshot restored to another folder (the same stem), checked to match its own
    snapshot (a restore after it would have nothing to do)."""
    out = tmp_path / "restored" / db.name
    out.parent.mkdir()
    navsnap.restore(store=tmp_path / "store", db=db, year=YEAR, to=out)
    st = open_store(tmp_path / "store")
    assert plan_restore(st, resolve(st, year=YEAR), db_path=out).strategy == "none"
    return out


def answers(db: Path, queries: list[str]) -> list[Any]:
    """What each query returns (or the first line of its error) on a fresh copy of ``db``."""
    copy = db.with_name(db.stem + ".probe.duckdb")
    shutil.copyfile(db, copy)
    con = duckdb.connect(str(copy))
    out: list[Any] = []
    try:
        for q in queries:
            try:
                out.append(con.execute(q).fetchall())
            except duckdb.Error as exc:
                out.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        con.close()
        copy.unlink()
    return out


MACROS = (
    "SELECT schema_name, function_name, function_type, parameters, parameter_types, "
    "macro_definition FROM duckdb_functions() WHERE NOT internal "
    "AND function_type IN ('macro', 'table_macro') ORDER BY ALL"
)

# --------------------------------------------------------------------------- macros


def test_typed_macro_parameters_come_back(tmp_path: Path) -> None:
    db = make(
        tmp_path,
        "CREATE TABLE t (simulation_year INTEGER); INSERT INTO t VALUES (2026);"
        "CREATE MACRO f(a INTEGER, b VARCHAR) AS a || b;"
        "CREATE MACRO g(a, b DECIMAL(10, 2)) AS a + b;"
        'CREATE MACRO h(s STRUCT("x y" INTEGER, z VARCHAR[])) AS s.z;',
    )
    out = restored(tmp_path, db)
    calls = [
        MACROS,
        "SELECT f(1, 'x')",
        "SELECT f(1, 2)",  # a Binder Error: b is VARCHAR
        "SELECT typeof(g(1, 2))",
        "SELECT h({'x y': 1, 'z': ['a']})",
    ]
    want = answers(db, calls)
    assert want[0][0][4] == ["INTEGER", "VARCHAR"]
    assert "Binder" in want[2]
    assert answers(out, calls) == want


def test_a_macro_with_overloads_comes_back_as_one_macro(tmp_path: Path) -> None:
    db = make(
        tmp_path,
        "CREATE TABLE t (simulation_year INTEGER, x INTEGER); INSERT INTO t VALUES (2026, 5);"
        "CREATE MACRO f(a) AS a, (a, b) AS a + b;"
        "CREATE MACRO rows_of(y) AS TABLE (SELECT * FROM t WHERE simulation_year = y),"
        " (y, m) AS TABLE (SELECT x * m AS x FROM t WHERE simulation_year = y);"
        "COMMENT ON MACRO f IS 'two overloads';",
    )
    out = restored(tmp_path, db)
    calls = [
        MACROS,
        "SELECT f(1), f(1, 2)",
        "SELECT * FROM rows_of(2026)",
        "SELECT * FROM rows_of(2026, 3)",
        "SELECT DISTINCT comment FROM duckdb_functions() WHERE function_name = 'f'",
    ]
    want = answers(db, calls)
    assert len(want[0]) == 4  # one row per overload
    assert answers(out, calls) == want


def test_typed_overloads_come_back(tmp_path: Path) -> None:
    db = make(
        tmp_path,
        "CREATE TABLE t (simulation_year INTEGER); INSERT INTO t VALUES (2026);"
        "CREATE MACRO f(a INTEGER) AS a * 10, (a VARCHAR) AS a || '!', (a, b DATE) AS b;",
    )
    out = restored(tmp_path, db)
    calls = [MACROS, "SELECT f(1), f('x'), f(1, DATE '2026-01-02')", "SELECT f(1.5)"]
    assert answers(out, calls) == answers(db, calls)


# --------------------------------------------------------------------------- creation order


def test_tables_whose_default_or_check_calls_a_macro_come_back(tmp_path: Path) -> None:
    # DuckDB binds, at CREATE, the macros a DEFAULT or CHECK calls, what a macro's body
    # calls and reads, and what a view names: macros come before the tables that call them,
    # after the tables and views they read, and views after the macros they call.
    db = make(
        tmp_path,
        """
        CREATE TABLE base (simulation_year INTEGER, x INTEGER);
        CREATE MACRO add_one(x) AS x + 1;
        CREATE MACRO pos(x) AS x > 0;
        CREATE MACRO twice_plus(x) AS add_one(x) * 2;
        CREATE TABLE t (
            simulation_year INTEGER,
            x INTEGER DEFAULT add_one(1),
            y INTEGER CHECK (pos(y)),
            z INTEGER DEFAULT twice_plus(2)
        );
        CREATE MACRO base_rows(yr) AS TABLE SELECT * FROM base WHERE simulation_year = yr;
        CREATE VIEW v AS SELECT add_one(x) AS x1 FROM t;
        CREATE MACRO n_v() AS (SELECT count(*) FROM v);
        CREATE VIEW v2 AS SELECT n_v() AS n;
        INSERT INTO base VALUES (2026, 7);
        INSERT INTO t (simulation_year, y) VALUES (2026, 1), (2026, 2);
        """,
    )
    out = restored(tmp_path, db)
    calls = [
        MACROS,
        "SELECT table_name, sql FROM duckdb_tables() ORDER BY ALL",
        "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY ALL",
        "INSERT INTO t (simulation_year, y) VALUES (2026, 3) RETURNING *",
        "INSERT INTO t (simulation_year, y) VALUES (2026, -1)",  # the CHECK refuses it
        "SELECT * FROM v2",
        "SELECT * FROM base_rows(2026)",
    ]
    want = answers(db, calls)
    assert want[3] == [(2026, 2, 3, 6)]
    assert "Constraint" in want[4]
    assert answers(out, calls) == want
