"""Comparing data with a manifest: one module, mismatches as data (restore raises on them,
verify reports them, the delta planner decides from them)."""

from __future__ import annotations

import dataclasses

import duckdb
import pytest

from navsnap.catalog import fingerprints, list_tables
from navsnap.compare import (
    Mismatch,
    compare_fingerprints,
    partition_mismatches,
    table_mismatches,
)
from navsnap.manifest import (
    GLOBAL,
    NULL_YEAR,
    ConfigBlock,
    Fingerprint,
    Manifest,
    ObjectRef,
    Partition,
    PartitionKey,
    TableEntry,
)

Y25, Y26 = PartitionKey.of_year("2025"), PartitionKey.of_year("2026")


def entry(parts: dict[PartitionKey, Fingerprint]) -> TableEntry:
    return TableEntry(
        name="t",
        schema="main",
        table="t",
        ddl="",
        columns=(("simulation_year", "INTEGER", False), ("v", "INTEGER", False)),
        year_column="simulation_year",
        depends_on=(),
        partitions=tuple(
            Partition(k, fp.rows, fp, ObjectRef(f"objects/{i}", str(i), 1))
            for i, (k, fp) in enumerate(parts.items())
        ),
    )


def test_equal_data_has_no_mismatch() -> None:
    want = {Y25: Fingerprint(2, "10"), Y26: Fingerprint(3, "11")}
    assert compare_fingerprints(entry(want), dict(want), full=True) == []


def test_each_kind_of_difference_is_one_mismatch() -> None:
    want = {Y25: Fingerprint(2, "10"), Y26: Fingerprint(3, "11")}
    got = {Y25: Fingerprint(2, "99"), NULL_YEAR: Fingerprint(1, "5")}
    assert compare_fingerprints(entry(want), got, full=True) == [
        Mismatch("partition", "t", NULL_YEAR, None, Fingerprint(1, "5")),
        Mismatch("partition", "t", Y25, Fingerprint(2, "10"), Fingerprint(2, "99")),
        Mismatch("partition", "t", Y26, Fingerprint(3, "11"), None),
    ]


def test_under_another_engine_only_row_counts_compare() -> None:
    want = {Y25: Fingerprint(2, "10")}
    assert compare_fingerprints(entry(want), {Y25: Fingerprint(2, "other")}, full=False) == []
    [m] = compare_fingerprints(entry(want), {Y25: Fingerprint(3, "10")}, full=False)
    assert (m.partition, m.want, m.got) == (Y25, Fingerprint(2, "10"), Fingerprint(3, "10"))


def test_keys_limit_the_comparison() -> None:
    want = {Y25: Fingerprint(2, "10"), Y26: Fingerprint(3, "11")}
    got = {Y25: Fingerprint(2, "10")}  # 2026 missing, but not asked about
    assert compare_fingerprints(entry(want), got, full=True, keys=[Y25]) == []
    assert [m.partition for m in compare_fingerprints(entry(want), got, full=True)] == [Y26]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    c.execute("CREATE TABLE t(simulation_year INTEGER, v INTEGER)")
    c.execute("INSERT INTO t VALUES (2025, 1), (2025, 2), (2026, 3), (NULL, 4)")
    return c


def _manifest(e: TableEntry) -> Manifest:
    return Manifest(
        snapshot_id="r-2026",
        run_id="r",
        year=2026,
        created_at="2026-01-01T00:00:00Z",
        mode="parquet",
        navsnap_version="0",
        duckdb_version=duckdb.__version__,
        database_name="memory",
        storage_version=None,
        year_column="simulation_year",
        config=ConfigBlock(),
        tables=(e,),
    )


def test_a_changed_value_in_a_real_table_is_found_in_its_partition(
    con: duckdb.DuckDBPyConnection,
) -> None:
    [info] = list_tables(con, year_column="simulation_year")
    e = dataclasses.replace(entry(fingerprints(con, info)), name="t")
    m = _manifest(e)
    assert table_mismatches(con, m, e) == []
    con.execute("UPDATE t SET v = 20 WHERE v = 2")
    [found] = table_mismatches(con, m, e)
    assert found.partition == Y25 and found.got is not None and found.got.rows == 2
    # The partition-only comparison (a delta restore's check) sees the same, and only it.
    assert [x.partition for x in partition_mismatches(con, m, e, [Y25, Y26, NULL_YEAR])] == [Y25]
    assert "2025" in found.describe()


def test_a_global_table_is_one_partition(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE g(v INTEGER)")
    [info] = [i for i in list_tables(con, year_column="simulation_year") if i.name == "g"]
    assert set(fingerprints(con, info)) == {GLOBAL}
