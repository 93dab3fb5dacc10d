"""Values DuckDB holds equal but which are not the same value are told apart.

DuckDB's ``hash()``, like its ``=``, holds -0.0 and 0.0 alike, ``INTERVAL '1 month'`` and
``'30 days'`` alike, and (2.0) ``'Alice'`` and ``'alice'`` in a NOCASE column alike. A
fingerprint made of ``hash()`` alone (scheme 1) could not see a change from one to the other:
a restore in place planned nothing to do and kept the changed values, and a later snapshot
could reuse an object holding the other value. Scheme 2 adds identity terms
(:func:`navsnap.catalog.row_hash_sql`); these tests fail under scheme 1.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from test_compat import python_under

import navsnap
from navsnap import engine
from navsnap.catalog import Column, fingerprint_sql
from navsnap.config import load_config
from navsnap.errors import FormatVersionError, IntegrityError
from navsnap.index import resolve
from navsnap.manifest import FINGERPRINT_VERSION, Manifest
from navsnap.store import open_store

#: (column type, the snapshot's value, a value DuckDB holds equal to it, its text)
PAIRS = [
    ("DOUBLE", "0.0", "'-0.0'::DOUBLE"),
    ("FLOAT", "'-0.0'::FLOAT", "0.0"),
    ("INTERVAL", "INTERVAL '1 month'", "INTERVAL '30 days'"),
    ("INTERVAL", "INTERVAL '1 day'", "INTERVAL '24 hours'"),
    ("DOUBLE[]", "[1.5, 0.0]", "[1.5, '-0.0'::DOUBLE]"),
    ("STRUCT(s INTERVAL)", "{'s': INTERVAL '2 months'}", "{'s': INTERVAL '60 days'}"),
    ("VARCHAR COLLATE NOCASE", "'Alice'", "'alice'"),
]


def _config() -> navsnap.Config:
    return load_config(search_cwd=False)


def _texts(db: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT id, CAST(v AS VARCHAR) FROM t ORDER BY id").fetchall()
    finally:
        con.close()


def _build(db: Path, column_type: str, value: str) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute(f"CREATE TABLE t (simulation_year INTEGER, id INTEGER, v {column_type})")
        con.execute(f"INSERT INTO t VALUES (2025, 1, {value}), (2025, 2, NULL)")
    finally:
        con.close()


def _set(db: Path, value: str) -> None:
    con = duckdb.connect(str(db))
    try:
        # DELETE and INSERT: an UPDATE to a value DuckDB holds equal may keep the old one.
        con.execute("DELETE FROM t WHERE id = 1")
        con.execute(f"INSERT INTO t VALUES (2025, 1, {value})")
    finally:
        con.close()


@pytest.mark.core
@pytest.mark.parametrize(("column_type", "value", "equal"), PAIRS)
def test_a_change_to_an_equal_value_is_restored(
    tmp_path: Path, column_type: str, value: str, equal: str
) -> None:
    db, store = tmp_path / "m.duckdb", tmp_path / "store"
    _build(db, column_type, value)
    navsnap.checkpoint(db=db, year=2025, store=store, config=_config())
    want = _texts(db)
    _set(db, equal)
    if _texts(db) == want:  # DuckDB 1.0's storage writes -0.0 as 0.0
        pytest.skip(f"DuckDB {duckdb.__version__} does not keep {equal} apart in its file")
    status = navsnap.status(_config(), db=db, years=(2025, 2025), store=store, deep=True)
    assert status.action == "restore", "status must see the change"
    report = navsnap.restore(db=db, year=2025, store=store)
    assert report.plan.strategy != "none"
    assert _texts(db) == want


@pytest.mark.core
@pytest.mark.parametrize(("column_type", "value", "equal"), PAIRS)
def test_a_snapshot_does_not_reuse_an_object_holding_the_equal_value(
    tmp_path: Path, column_type: str, value: str, equal: str
) -> None:
    db, store = tmp_path / "m.duckdb", tmp_path / "store"
    _build(db, column_type, equal)
    navsnap.checkpoint(db=db, year=2025, store=store, config=_config(), run_id="first")
    _set(db, value)
    want = _texts(db)
    navsnap.checkpoint(db=db, year=2025, store=store, config=_config(), run_id="second")
    out = tmp_path / "r.duckdb"
    navsnap.restore(db=db, year=2025, store=store, snapshot="second-2025", to=out)
    assert _texts(out) == want


def test_the_identity_terms_are_zero_for_other_values() -> None:
    """A table without such values fingerprints as under scheme 1: the manifests written
    before scheme 2 still compare."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE t AS SELECT 2025 AS y, i::DOUBLE / 7 AS d, [i::FLOAT] AS l, "
        "to_days((i % 30)::INTEGER) AS iv, 'x' || i AS s FROM range(100) r(i)"
    )
    cols = [
        Column(*c)
        for c in [
            ("y", "INTEGER", False),
            ("d", "DOUBLE", False),
            ("l", "FLOAT[]", False),
            ("iv", "INTERVAL", False),
            ("s", "VARCHAR", False),
        ]
    ]
    plain = [c for c in cols if c.name not in ("l", "iv")]
    con.execute("CREATE TABLE p AS SELECT y, d, s FROM t")
    for scheme in (1, 2):
        assert (
            con.execute(
                fingerprint_sql("p", columns=plain, year_column="y", scheme=scheme)
            ).fetchall()
            == con.execute(
                fingerprint_sql("p", columns=plain, year_column="y", scheme=1)
            ).fetchall()
        )
    # The nested and interval columns are hashed by their text as well under scheme 2.
    assert con.execute(
        fingerprint_sql("t", columns=cols, year_column="y", scheme=2)
    ).fetchall() != (
        con.execute(fingerprint_sql("t", columns=cols, year_column="y", scheme=1)).fetchall()
    )


def test_a_manifest_of_scheme_1_still_restores_and_compares(tmp_path: Path) -> None:
    db, store = tmp_path / "m.duckdb", tmp_path / "store"
    _build(db, "DOUBLE", "1.5")
    m = navsnap.checkpoint(db=db, year=2025, store=store, config=_config())
    assert m.fingerprint_version == FINGERPRINT_VERSION == 2
    old = replace(m, fingerprint_version=1)
    raw = old.to_json()
    assert b"fingerprint_version" not in raw, "scheme 1 is written as before: no field"
    (store / "manifests" / f"{m.snapshot_id}.json").write_bytes(raw)
    assert resolve(open_store(store), m.snapshot_id).fingerprint_version == 1
    status = navsnap.status(_config(), db=db, years=(2025, 2025), store=store, deep=True)
    assert status.action == "complete", status.explain()
    out = tmp_path / "r.duckdb"
    navsnap.restore(db=db, year=2025, store=store, to=out)
    assert _texts(out) == _texts(db)


@pytest.mark.parametrize(("version", "error"), [(3, FormatVersionError), (0, IntegrityError)])
def test_an_unknown_fingerprint_version_is_refused(
    tmp_path: Path, version: int, error: type[Exception]
) -> None:
    db, store = tmp_path / "m.duckdb", tmp_path / "store"
    _build(db, "DOUBLE", "1.5")
    m = navsnap.checkpoint(db=db, year=2025, store=store, config=_config())
    raw = replace(m, fingerprint_version=version).to_json()
    with pytest.raises(error, match="fingerprint"):
        Manifest.from_json(raw)


# A snapshot written by navsnap under DuckDB 1.5.6, restored here: 2.0 hashes these types
# unlike 1.5, so the restore must check against the snapshot's Parquet, not its fingerprints.
WRITE_15 = """
from pathlib import Path
import navsnap
tmp = Path.cwd()
con = duckdb.connect(str(tmp / "old.duckdb"))
con.execute("CREATE TABLE t (simulation_year INTEGER, id INTEGER, i INTERVAL, tz TIMETZ, "
            "b BIT, s VARCHAR COLLATE NOCASE)")
con.execute("INSERT INTO t VALUES (2025, 1, to_months(-3) + to_days(5) + to_microseconds(-7), "
            "'12:00:00+01'::TIMETZ, '01'::BIT, 'Xy'), (2025, 2, NULL, NULL, NULL, 'xy')")
con.close()
navsnap.checkpoint(db=tmp / "old.duckdb", year=2025, store=tmp / "store",
                   config=navsnap.load_config(search_cwd=False))
"""


def test_a_snapshot_of_duckdb_1_5_restores_under_this_engine(tmp_path: Path) -> None:
    if engine.RUNNING[:2] <= (1, 5):
        pytest.skip(f"the running DuckDB {engine.VERSION} is not newer than 1.5")
    res = python_under("1.5.6", WRITE_15, cwd=tmp_path)  # skips where 1.5.6 is not installed
    assert res.returncode == 0, res.stderr
    out = tmp_path / "r.duckdb"
    navsnap.restore(db=tmp_path / "old.duckdb", year=2025, store=tmp_path / "store", to=out)
    sql = "SELECT id, i::VARCHAR, tz::VARCHAR, b::VARCHAR, s FROM t ORDER BY id"
    con = duckdb.connect(str(out), read_only=True)
    try:
        got = con.execute(sql).fetchall()
    finally:
        con.close()
    assert got == [
        (1, "-3 months 5 days -00:00:00.000007", "12:00:00+01", "01", "Xy"),
        (2, None, None, None, "xy"),
    ]
