"""Fingerprints cover every column of a row, whatever the columns are called."""

from __future__ import annotations

from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import navsnap
from navsnap.catalog import (
    INTEGER_TYPES,
    Column,
    TableInfo,
    fingerprint_sql,
    fingerprints,
    quote_ident,
    row_alias,
)
from navsnap.config import load_config
from navsnap.index import read_all
from navsnap.manifest import NULL_YEAR
from navsnap.store import open_store

HOSTILE = ["t", "T", "t_", "T__", "select", "from", "group", "part", "n", 'a"b', "é", " ", "year"]


def test_row_alias_avoids_every_column_name_case_insensitively() -> None:
    cols = [Column(n, "INTEGER", False) for n in ("t", "T_", "t__")]
    assert row_alias(cols) == "t___"
    assert row_alias([Column("x", "INTEGER", False)]) == "t"


def test_a_column_named_t_does_not_hide_changes_in_other_columns(tmp_path: Path) -> None:
    """The regression: settings(t, v) with v changing every year must not reuse 2025's object."""
    config = load_config(overrides={"run.step": "hostile_pipeline:step"}, search_cwd=False)
    db, store = tmp_path / "h.duckdb", tmp_path / "store"
    navsnap.run(config, db=db, years=(2025, 2027), store=str(store))
    manifests, broken = read_all(open_store(store))
    assert broken == []
    objects = [m.table("settings").partitions[0].object.key for m in manifests]
    assert len(set(objects)) == 3, "a changed global table must get a new object each year"
    out = tmp_path / "r.duckdb"
    navsnap.restore(db=db, year=2026, store=str(store), to=out)
    con = duckdb.connect(str(out), read_only=True)
    try:
        assert con.execute("SELECT t, v FROM settings").fetchall() == [(1, 2026)]
        assert con.execute("SELECT v FROM facts ORDER BY 1").fetchall() == [(20250,), (20260,)]
    finally:
        con.close()


names = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=6)),
    min_size=1,
    max_size=5,
    unique_by=str.casefold,
).filter(lambda ns: all("\x00" not in n for n in ns))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cols=names,
    rows=st.integers(min_value=1, max_value=4),
    data=st.data(),
    year_col=st.booleans(),
)
def test_any_changed_value_changes_the_fingerprint(
    cols: list[str], rows: int, data: st.DataObject, year_col: bool
) -> None:
    con = duckdb.connect()
    try:
        year_column = cols[0] if year_col else None
        col_defs = ", ".join(f"{quote_ident(c)} INTEGER" for c in cols)
        con.execute(f"CREATE TABLE x ({col_defs})")
        values = [[data.draw(st.integers(-5, 5)) for _ in cols] for _ in range(rows)]
        if year_column is not None:
            for row in values:
                row[0] = 2025
        marks = ", ".join("?" for _ in cols)
        con.executemany(f"INSERT INTO x VALUES ({marks})", values)
        info = TableInfo(
            schema="main",
            name="x",
            sql="",
            columns=tuple(Column(c, "INTEGER", False) for c in cols),
            year_column=year_column,
        )
        before = fingerprints(con, info)
        # change one value in one column (never the year column, which names the partition)
        choices = [i for i in range(len(cols)) if cols[i] != year_column]
        if not choices:
            return
        col = cols[data.draw(st.sampled_from(choices))]
        con.execute(f"UPDATE x SET {quote_ident(col)} = {quote_ident(col)} + 100 WHERE rowid = 0")
        after = fingerprints(con, info)
        assert before != after, f"changing {col!r} left the fingerprint unchanged"
    finally:
        con.close()


def test_an_integer_year_column_groups_as_its_text_does() -> None:
    """Integer year columns are grouped on the value (cheaper), text ones on the text: the
    same partitions and values either way, NULL and negative years and any column name."""
    con = duckdb.connect()
    for coltype in sorted(INTEGER_TYPES):
        for name in ("simulation_year", "part", "n", "h", "t"):
            con.execute("DROP TABLE IF EXISTS x")
            con.execute(f"CREATE TABLE x ({quote_ident(name)} {coltype}, v VARCHAR)")
            lo = -3 if not coltype.startswith("U") else 0
            con.execute(
                f"INSERT INTO x SELECT CASE WHEN i % 5 = 0 THEN NULL ELSE {lo} + i % 4 END, "
                "i::VARCHAR FROM range(40) r(i)"
            )
            columns = (Column(name, coltype, False), Column("v", "VARCHAR", False))
            info = TableInfo("main", "x", "", columns, name)
            t = quote_ident(row_alias(columns))
            by_text = {
                (part, n, h)
                for part, n, h in con.execute(
                    f"SELECT {t}.{quote_ident(name)}::VARCHAR, count(*), "
                    f"sum(hash({t})::HUGEINT)::VARCHAR FROM x AS {t} GROUP BY ALL"
                ).fetchall()
            }
            got = fingerprints(con, info)
            sql = fingerprint_sql("x", columns=columns, year_column=name)
            assert f"GROUP BY {t}.{quote_ident(name)}" in sql  # on the value, not its text
            assert len(got) == len(by_text) == 5  # four years and NULL
            keyed = {
                (None if k == NULL_YEAR else k.year, f.rows, f.hash_sum) for k, f in got.items()
            }
            assert keyed == by_text
