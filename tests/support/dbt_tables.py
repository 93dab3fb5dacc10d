"""Print every table of a DuckDB file as JSON, sorted, audit timestamps left out.

Run by tests/test_dbt.py with the dbt environment's own Python, so the file is opened by the
DuckDB release the pipeline pins: ``python dbt_tables.py DB``. It fails (non-zero exit) when
that DuckDB cannot open the file.
"""

from __future__ import annotations

import json
import sys

import duckdb

AUDIT = {"loaded_at"}


def main(db: str) -> None:
    con = duckdb.connect(db, read_only=True)
    out: dict[str, object] = {"duckdb": duckdb.__version__}
    for schema, name in con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal ORDER BY 1, 2"
    ).fetchall():
        cols = [
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
                "ORDER BY column_index",
                [schema, name],
            ).fetchall()
            if c not in AUDIT
        ]
        select = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
        rows = con.execute(f'SELECT {select} FROM "{schema}"."{name}" ORDER BY ALL').fetchall()
        out[f"{schema}.{name}"] = [[str(v) for v in row] for row in rows]
    views = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
    ).fetchall()
    for (view,) in views:
        out[f"view {view}"] = [
            [str(v) for v in row]
            for row in con.execute(f'SELECT * FROM "{view}" ORDER BY ALL').fetchall()
        ]
    con.close()
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1])
