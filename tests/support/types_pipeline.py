# ruff: noqa: E501  (a table of SQL literals reads best one type a line)
"""A step whose tables hold every DuckDB type, with the values Parquet finds hardest.

Used by tests/test_types.py: each year adds rows to a year-scoped table ``typed`` and
rewrites a global table ``moods`` whose column has a user-defined ENUM type.
"""

from __future__ import annotations

from typing import Any

import duckdb

#: (column, type, SQL values for the rows of one year: edge values and NULL)
COLUMNS: list[tuple[str, str, list[str]]] = [
    ("c_bool", "BOOLEAN", ["true", "false"]),
    ("c_tinyint", "TINYINT", ["-128", "127"]),
    ("c_smallint", "SMALLINT", ["-32768", "32767"]),
    ("c_integer", "INTEGER", ["-2147483648", "2147483647"]),
    ("c_bigint", "BIGINT", ["-9223372036854775808", "9223372036854775807"]),
    (
        "c_hugeint",
        "HUGEINT",
        [
            "(-170141183460469231731687303715884105727)::HUGEINT - 1",
            "9007199254740993::HUGEINT",
        ],
    ),
    ("c_utinyint", "UTINYINT", ["0", "255"]),
    ("c_usmallint", "USMALLINT", ["0", "65535"]),
    ("c_uinteger", "UINTEGER", ["0", "4294967295"]),
    ("c_ubigint", "UBIGINT", ["0", "18446744073709551615"]),
    ("c_uhugeint", "UHUGEINT", ["340282366920938463463374607431768211455::UHUGEINT", "0"]),
    ("c_dec4", "DECIMAL(4,1)", ["-999.9", "0.1"]),
    ("c_dec18", "DECIMAL(18,6)", ["-999999999999.999999", "0.000001"]),
    (
        "c_dec38",
        "DECIMAL(38,10)",
        [
            "'-9999999999999999999999999999.9999999999'::DECIMAL(38,10)",
            "'0.0000000001'::DECIMAL(38,10)",
        ],
    ),
    ("c_float", "FLOAT", ["'nan'::FLOAT", "'-0.0'::FLOAT"]),
    ("c_double", "DOUBLE", ["'inf'::DOUBLE", "'-inf'::DOUBLE"]),
    ("c_double2", "DOUBLE", ["'-0.0'::DOUBLE", "4.9e-324"]),
    ("c_date", "DATE", ["'infinity'::DATE", "'0001-01-01'::DATE"]),
    ("c_time", "TIME", ["'23:59:59.999999'::TIME", "'00:00:00'::TIME"]),
    ("c_timetz", "TIMETZ", ["'12:34:56.123456+05:30'::TIMETZ", "'00:00:00-15:59'::TIMETZ"]),
    ("c_ts", "TIMESTAMP", ["'-infinity'::TIMESTAMP", "'2024-02-29 12:00:00.000001'::TIMESTAMP"]),
    ("c_ts_s", "TIMESTAMP_S", ["'2024-01-01 00:00:01'::TIMESTAMP_S", "'1677-09-22'::TIMESTAMP_S"]),
    (
        "c_ts_ms",
        "TIMESTAMP_MS",
        ["'2024-01-01 00:00:01.123'::TIMESTAMP_MS", "'1970-01-01'::TIMESTAMP_MS"],
    ),
    (
        "c_ts_ns",
        "TIMESTAMP_NS",
        ["'2024-01-01 00:00:00.123456789'::TIMESTAMP_NS", "'1970-01-01'::TIMESTAMP_NS"],
    ),
    (
        "c_tstz",
        "TIMESTAMPTZ",
        ["'2024-01-01 00:00:01.123456+02'::TIMESTAMPTZ", "'infinity'::TIMESTAMPTZ"],
    ),
    (
        "c_interval",
        "INTERVAL",
        [
            "INTERVAL '1 day 2 hours 3 microseconds'",
            "to_months(-3) + to_days(5) + to_microseconds(-7)",
        ],
    ),
    ("c_varchar", "VARCHAR", ["''", "'quote '' and \"double\", comma, [bracket] {brace} é 🦆'"]),
    ("c_blob", "BLOB", ["'\\x00\\xFFab\\x00'::BLOB", "''::BLOB"]),
    ("c_bit", "BIT", ["'010110'::BIT", "'1'::BIT"]),
    (
        "c_uuid",
        "UUID",
        [
            "'123e4567-e89b-12d3-a456-426614174000'::UUID",
            "'ffffffff-ffff-ffff-ffff-ffffffffffff'::UUID",
        ],
    ),
    ("c_enum", "ENUM('lo', 'hi')", ["'hi'", "'lo'"]),
    ("c_list", "INTEGER[]", ["[1, NULL, 3]", "[]"]),
    ("c_list_str", "VARCHAR[]", ["['a,b', NULL, '']", "[]"]),
    ("c_array", "DOUBLE[3]", ["[1.5, -0.0, 'nan'::DOUBLE]::DOUBLE[3]", "[0, 0, 0]::DOUBLE[3]"]),
    ("c_struct", "STRUCT(a INTEGER, b VARCHAR)", ["{'a': 1, 'b': NULL}", "{'a': NULL, 'b': 'x'}"]),
    ("c_map", "MAP(VARCHAR, INTEGER)", ["MAP {'k': 1, 'j': NULL}", "MAP {}"]),
    (
        "c_union",
        "UNION(i INTEGER, s VARCHAR)",
        [
            "union_value(s := 'x')::UNION(i INTEGER, s VARCHAR)",
            "union_value(i := 7)::UNION(i INTEGER, s VARCHAR)",
        ],
    ),
    (
        "c_nested_lossy",
        "STRUCT(i INTERVAL, h HUGEINT[], s VARCHAR)",
        [
            "{'i': INTERVAL '-1 day -3 microseconds', 'h': [9007199254740993::HUGEINT], 's': 'a''b, {c}'}",
            "{'i': NULL, 'h': [], 's': NULL}",
        ],
    ),
    ("c_map_lossy", "MAP(VARCHAR, TIMETZ)", ["MAP {'k=v': '01:02:03+01:30'::TIMETZ}", "MAP {}"]),
    (
        "c_nested",
        "STRUCT(l INTEGER[], m MAP(VARCHAR, DOUBLE))[]",
        [
            "[{'l': [1, 2], 'm': MAP {'x': 1.5}}, NULL]",
            "[]",
        ],
    ),
]


def step(con: duckdb.DuckDBPyConnection, year: int, config: Any) -> None:
    have = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'typed'").fetchone()
    if not have or have[0] == 0:
        con.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
        cols = ", ".join(f"{name} {typ}" for name, typ, _ in COLUMNS)
        con.execute(f"CREATE TABLE typed (simulation_year INTEGER, id INTEGER, {cols})")
        con.execute("CREATE TABLE moods (id INTEGER, m mood)")
    base = (year - 2025) * 3
    for i in range(2):
        values = ", ".join(vals[i] for _, _, vals in COLUMNS)
        con.execute(f"INSERT INTO typed VALUES ({year}, {base + i}, {values})")
    nulls = ", ".join("NULL" for _ in COLUMNS)
    con.execute(f"INSERT INTO typed VALUES ({year}, {base + 2}, {nulls})")
    con.execute("DELETE FROM moods")
    con.execute("INSERT INTO moods VALUES (1, ?), (2, NULL)", [("sad", "ok", "happy")[year % 3]])
