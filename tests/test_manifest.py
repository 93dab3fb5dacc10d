"""The typed manifest model: partition keys, fingerprints, DDL entries and the config block
are types in memory, and the JSON on disk is exactly what earlier versions wrote."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from navsnap.errors import IntegrityError
from navsnap.hashing import hash_bytes
from navsnap.manifest import (
    GLOBAL,
    NULL_YEAR,
    ConfigBlock,
    DdlEntry,
    Fingerprint,
    Manifest,
    PartitionKey,
    canonical_json,
)

ROOT = Path(__file__).resolve().parent.parent


def _partition(year: str | None, rows: int, key: str) -> dict[str, Any]:
    return {
        "year": year,
        "rows": rows,
        "fingerprint": f"{rows}:-1234567890123456789012",
        "object": {"key": f"objects/{key[:2]}/{key}.parquet", "xxh3": key, "size": 100 + rows},
        "reused": year == "2025",
    }


def _as_written(data: dict[str, Any]) -> bytes:
    """A manifest file as navsnap writes it: integrity over the canonical JSON, indented."""
    body = dict(data)
    body["integrity"] = hash_bytes(canonical_json(body))
    return json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False).encode()


def _old_manifest(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "snapshot_id": "20260101T000000Z-ab12-2026",
        "run_id": "20260101T000000Z-ab12",
        "year": 2026,
        "created_at": "2026-01-01T00:00:00Z",
        "mode": "parquet",
        "navsnap_version": "0.1.0",
        "duckdb_version": "1.0.0",
        "database_name": "sim",
        "storage_version": "v1.0.0",
        "year_column": "simulation_year",
        "config": config,
        "tables": [
            {
                "name": "people",
                "schema": "main",
                "table": "people",
                "ddl": "CREATE TABLE people(id INTEGER PRIMARY KEY);",
                "columns": [["id", "INTEGER", True]],
                "year_column": None,
                "depends_on": [],
                "partitions": [_partition(None, 3, "a" * 32)],
            },
            {
                "name": "audit.log",
                "schema": "audit",
                "table": "log",
                "ddl": "CREATE TABLE audit.log(simulation_year INTEGER, note VARCHAR);",
                "columns": [["simulation_year", "INTEGER", False], ["note", "VARCHAR", False]],
                "year_column": "simulation_year",
                "depends_on": ["people"],
                "partitions": [
                    _partition("null", 1, "b" * 32),
                    _partition("2025", 2, "c" * 32),
                    _partition("2026", 4, "d" * 32),
                ],
            },
        ],
        "ddl": [
            {"kind": "schema", "schema": "audit", "name": "audit", "sql": 'CREATE SCHEMA "audit";'},
            {"kind": "view", "schema": "main", "name": "v", "sql": "CREATE VIEW v AS SELECT 1;"},
        ],
        "file": None,
        "validation": {"headcount": 3},
        "checks": {},
        "timings": {"total_s": 0.5},
        "parent": None,
        "format_version": 1,
    }


CONFIGS: dict[str, dict[str, Any]] = {
    # a run's snapshot: origin_year recorded
    "run": {"values": {"run": {"seed": 42}}, "identity": {"run.seed": 42}, "inputs": {},
            "hash": "h1", "origin_year": 2025},
    # navsnap checkpoint: no origin_year at all
    "checkpoint": {"values": {}, "identity": {"run.seed": 42}, "inputs": {}, "hash": "h1"},
    # a continued checkpoint chain: origin_year null; and a key a later navsnap may add
    "null-origin": {"values": {}, "identity": {}, "inputs": {"data.csv": "ff"}, "hash": "h2",
                    "origin_year": None, "future_key": [1, 2]},
}  # fmt: skip


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_a_manifest_loads_and_writes_back_byte_for_byte(config: str) -> None:
    raw = _as_written(_old_manifest(CONFIGS[config]))
    m = Manifest.from_json(raw)
    assert m.to_json() == raw


def test_partition_keys_fingerprints_ddl_and_config_are_typed() -> None:
    m = Manifest.from_json(_as_written(_old_manifest(CONFIGS["run"])))
    people, log = m.tables
    assert [p.year for p in people.partitions] == [GLOBAL]
    assert [p.year for p in log.partitions] == [
        NULL_YEAR,
        PartitionKey.of_year("2025"),
        PartitionKey.of_year("2026"),
    ]
    assert [str(p.year) for p in (*people.partitions, *log.partitions)] == [
        "(global)",
        "null",
        "2025",
        "2026",
    ]
    assert log.partitions[2].fingerprint == Fingerprint(4, "-1234567890123456789012")
    assert m.ddl[0] == DdlEntry("schema", "audit", "audit", 'CREATE SCHEMA "audit";')
    assert m.config.origin_year == 2025 and m.config_hash == "h1"
    assert m.config.identity == {"run.seed": 42}
    assert Manifest.from_json(_as_written(_old_manifest(CONFIGS["checkpoint"]))).config == (
        ConfigBlock(identity={"run.seed": 42}, hash="h1")
    )


def test_partition_keys_round_trip_and_sort_global_then_null_then_years() -> None:
    for value in (None, "null", "2025", "1999-12-31"):
        assert PartitionKey.from_json(value).to_json() == value
    keys = [PartitionKey.of_year("2026"), NULL_YEAR, PartitionKey.of_year("2025"), GLOBAL]
    assert sorted(keys) == [GLOBAL, NULL_YEAR, PartitionKey.of_year("2025"), keys[0]]
    with pytest.raises(ValueError):
        PartitionKey.from_json(2025)


@pytest.mark.parametrize("bad", ["", "12", "x:1", ":5", "-1:5"])
def test_a_malformed_fingerprint_is_a_damaged_manifest(bad: str) -> None:
    data = _old_manifest(CONFIGS["run"])
    data["tables"][0]["partitions"][0]["fingerprint"] = bad
    with pytest.raises(IntegrityError, match="malformed"):
        Manifest.from_json(_as_written(data))
    assert Fingerprint.parse("12:-5") == Fingerprint(12, "-5")


def test_a_partition_whose_rows_are_not_its_fingerprints_is_a_damaged_manifest() -> None:
    """Both count the same rows; a store writer who set one alone (2**62 rows, shown by
    list and passed by verify --deep) gets a damaged manifest (hostile-input review)."""
    data = _old_manifest(CONFIGS["run"])
    part = data["tables"][0]["partitions"][0]
    part["rows"] = 2**62
    with pytest.raises(IntegrityError, match="differ from its fingerprint"):
        Manifest.from_json(_as_written(data))


@pytest.mark.parametrize("name", ['cen"sus', "other", "main.census", ""])
def test_a_table_whose_name_is_not_its_key_is_a_damaged_manifest(name: str) -> None:
    """A table's name is its key (``table``, or ``schema.table`` outside main); a store
    writer who renamed one alone made verify --deep pass a snapshot restore then refused."""
    data = _old_manifest(CONFIGS["run"])
    data["tables"][0]["name"] = name
    with pytest.raises(IntegrityError, match=r"is not the key of table|is not a string"):
        Manifest.from_json(_as_written(data))


@pytest.mark.parametrize(
    ("table", "ddl", "ok"),
    [
        (0, "CREATE TABLE people(id INTEGER PRIMARY KEY);", True),
        (0, "CREATE TABLE main.people(id INTEGER PRIMARY KEY);", True),
        (0, 'CREATE TABLE "People"(id INTEGER PRIMARY KEY);', True),  # DuckDB ignores case
        (0, "CREATE TABLE other(id INTEGER PRIMARY KEY);", False),
        (0, "CREATE TABLE audit.people(id INTEGER PRIMARY KEY);", False),
        (0, "CREATE TABLE cat.main.people(id INTEGER PRIMARY KEY);", False),
        (0, 'CREATE TABLE "peo""ple"(id INTEGER PRIMARY KEY);', False),
        (1, "CREATE TABLE audit.log(simulation_year INTEGER, note VARCHAR);", True),
        (1, 'CREATE TABLE "audit" . "log"(simulation_year INTEGER, note VARCHAR);', True),
        (1, "CREATE TABLE log(simulation_year INTEGER, note VARCHAR);", False),  # main.log
        (1, "CREATE TABLE main.log(simulation_year INTEGER, note VARCHAR);", False),
    ],
)
def test_a_table_ddl_must_create_the_entrys_table(table: int, ddl: str, ok: bool) -> None:
    """Restore runs a table's DDL and then loads the entry's table: DDL naming another table
    restored nothing or the wrong thing (refused only by restore, exit 12, while verify --deep
    passed it). It is now a damaged manifest on read."""
    data = _old_manifest(CONFIGS["run"])
    data["tables"][table]["ddl"] = ddl
    if ok:
        assert Manifest.from_json(_as_written(data)).tables[table].ddl == ddl
    else:
        with pytest.raises(IntegrityError, match="not the entry's table"):
            Manifest.from_json(_as_written(data))


def test_the_manifest_model_does_not_import_duckdb() -> None:
    tree = ast.parse((ROOT / "navsnap" / "manifest.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert "duckdb" not in imported
    imported_modules = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "navsnap.catalog" not in imported_modules


@pytest.mark.parametrize(
    ("check", "args", "refused"),
    [
        ("check_type", ("INTEGER",), False),
        ("check_type", ('STRUCT("a b" VARCHAR, c INTEGER[])',), False),
        ("check_type", ("INTEGER); DROP TABLE x; --",), True),
        ("check_type", ("DECIMAL(" + "9," * 3000 + "2)",), True),  # longer than the memo
        ("check_ddl", ("view", "CREATE VIEW v AS SELECT 1"), False),
        ("check_ddl", ("view", "CREATE VIEW v AS SELECT 1; DROP TABLE t"), True),
        ("check_ddl", ("macro", "CREATE VIEW v AS SELECT 1"), True),
        ("check_ddl", (["view"], "CREATE VIEW v AS SELECT 1"), True),  # not a string: unmemoized
        ("check_table_ddl", ("CREATE TABLE t (a INTEGER)",), False),
        ("check_table_ddl", ("CREATE TABLE t AS SELECT 1 AS a",), True),
    ],
)
def test_remembered_verdicts_are_the_same_every_time(
    check: str, args: tuple[object, ...], refused: bool
) -> None:
    """The parse-based checks remember their verdict for short strings (a store's manifests
    repeat the same DDL); the second and third calls must say exactly what the first said."""
    from navsnap import manifest_check

    fn = getattr(manifest_check, check)
    said: list[str | None] = []
    for _ in range(3):
        try:
            fn(*args)
            said.append(None)
        except ValueError as exc:
            said.append(str(exc))
    assert said[0] == said[1] == said[2]
    assert (said[0] is not None) == refused, said[0]
