"""Objects use Parquet's V1 encodings, which every reader reads exactly (docs/format.md).

DuckDB's V2 delta encoding of an INTEGER column whose values span the whole range is refused
by pyarrow and read as other numbers by DuckDB 1.0 (``scripts/bench_codec.py``), so navsnap
names ``PARQUET_VERSION V1`` wherever DuckDB takes the option: a release whose default
changed would not change what navsnap writes. Runs under every release the core suite covers.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import navsnap
from navsnap import engine
from navsnap.catalog import quote_literal
from navsnap.config import load_config
from navsnap.manifest import Manifest
from navsnap.snapshot import SnapshotOptions, _copy_options

pytestmark = pytest.mark.core

#: Encodings only Parquet's V2 writer uses.
V2_ONLY = {
    "DELTA_BINARY_PACKED",
    "DELTA_LENGTH_BYTE_ARRAY",
    "DELTA_BYTE_ARRAY",
    "BYTE_STREAM_SPLIT",
}

#: Flat columns holding both ends of their range (the values delta encodings get wrong),
#: NULLs, -0.0, NaN and the infinities, empty and NUL-holding text and bytes; and a nested one.
TABLES = """
CREATE TABLE flat (
    simulation_year INTEGER NOT NULL, b BOOLEAN, i4 INTEGER, i8 BIGINT, u4 UINTEGER,
    u8 UBIGINT, f FLOAT, d DOUBLE, dec18 DECIMAL(18,3), s VARCHAR, bl BLOB, dt DATE,
    ts TIMESTAMP, tz TIMESTAMPTZ
);
INSERT INTO flat
SELECT 2025 + (r % 2), r % 3 = 0,
    CASE r % 4 WHEN 0 THEN -2147483648 WHEN 1 THEN 2147483647 WHEN 2 THEN NULL ELSE r END,
    CASE r % 4 WHEN 0 THEN -9223372036854775808 WHEN 1 THEN 9223372036854775807
        WHEN 2 THEN NULL ELSE r * 1000000007 END,
    CASE r % 3 WHEN 0 THEN 0 WHEN 1 THEN 4294967295 ELSE r END,
    CASE r % 3 WHEN 0 THEN 0 WHEN 1 THEN 18446744073709551615 ELSE r END,
    CASE r % 5 WHEN 0 THEN '-0.0'::FLOAT WHEN 1 THEN 'nan'::FLOAT WHEN 2 THEN '-inf'::FLOAT
        WHEN 3 THEN NULL ELSE r / 7 END,
    CASE r % 5 WHEN 0 THEN '-0.0'::DOUBLE WHEN 1 THEN 'nan'::DOUBLE WHEN 2 THEN 'inf'::DOUBLE
        WHEN 3 THEN 1.7976931348623157e308 ELSE r / 7 END,
    (r * 1.001)::DECIMAL(18,3),
    CASE r % 4 WHEN 0 THEN '' WHEN 1 THEN NULL WHEN 2 THEN 'a' || chr(0) || 'b'
        ELSE repeat('x', r % 50) END,
    CASE r % 3 WHEN 0 THEN ''::BLOB WHEN 1 THEN '\\x00\\xFF'::BLOB ELSE NULL END,
    CASE r % 3 WHEN 0 THEN DATE '-infinity' WHEN 1 THEN DATE 'infinity'
        ELSE DATE '2020-01-01' + r::INTEGER END,
    CASE r % 3 WHEN 0 THEN TIMESTAMP '-infinity' WHEN 1 THEN TIMESTAMP 'infinity'
        ELSE TIMESTAMP '1677-09-22 00:00:00' + to_seconds(r) END,
    (TIMESTAMP '2020-01-01' + to_seconds(r))::TIMESTAMPTZ
FROM range(5000) AS t(r);
CREATE TABLE nested (simulation_year INTEGER NOT NULL, v INTEGER[]);
INSERT INTO nested SELECT 2025 + (r % 2), [r, NULL, r + 1] FROM range(100) AS t(r);
"""


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("encodings")
    db, store = root / "flat.duckdb", root / "store"
    con = duckdb.connect(str(db))
    try:
        con.execute(TABLES)
    finally:
        con.close()
    config = load_config(search_cwd=False)
    return store, navsnap.checkpoint(db=db, year=2026, store=store, config=config)


def objects(store: Path, manifest: Manifest, table: str) -> list[Path]:
    entry = next(t for t in manifest.tables if t.table == table)
    return [store / p.object.key for p in entry.partitions]


def test_copy_names_v1_wherever_duckdb_takes_the_option() -> None:
    options = _copy_options(SnapshotOptions())
    assert ("PARQUET_VERSION V1" in options) == engine.PARQUET_VERSION_OPTION
    assert "V2" not in options


def test_objects_use_no_v2_encoding(snapshot: tuple[Path, Manifest]) -> None:
    store, manifest = snapshot
    con = duckdb.connect()
    try:
        for table in ("flat", "nested"):
            for path in objects(store, manifest, table):
                rows = con.execute(
                    "SELECT DISTINCT encodings FROM parquet_metadata(?)", [str(path)]
                ).fetchall()
                found = {e for (text,) in rows for e in str(text).split(", ")}
                assert found and not found & V2_ONLY, (table, found)
    finally:
        con.close()


def _bits(table: pa.Table) -> pa.Table:
    """``table`` with its float columns as their bit patterns (NaN equals nothing)."""
    for i, field in enumerate(table.schema):
        width = {pa.float32(): pa.int32(), pa.float64(): pa.int64()}.get(field.type)
        if width is not None:
            table = table.set_column(i, field.name, table[i].combine_chunks().view(width))
    return table


def test_pyarrow_reads_every_object_as_duckdb_does(snapshot: tuple[Path, Manifest]) -> None:
    """Analysts read objects with pyarrow (pandas, polars) too: both ends of every range
    come back as DuckDB reads them."""
    store, manifest = snapshot
    con = duckdb.connect()
    try:
        for path in objects(store, manifest, "flat"):
            rel = con.sql(f"SELECT * FROM read_parquet({quote_literal(str(path))})")
            # 2.0 renamed fetch_arrow_table to to_arrow_table
            duck = (getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table)()
            ours = pq.read_table(path)
            assert ours.num_rows == 2500
            assert _bits(ours).equals(_bits(duck.cast(ours.schema)))
    finally:
        con.close()
