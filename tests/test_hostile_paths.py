"""Paths navsnap puts into SQL are quoted (issue 13): a quote, a newline, unicode and spaces
in the store path, the database path and ``restore --to`` all work."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke, table_fingerprints

TOY_STEP = "toy_pipeline:step"
NAMES = ["it's", "new\nline", "ünï ćødé", "two  spaces", "semi;colon--"]


@pytest.mark.parametrize("name", NAMES, ids=["quote", "newline", "unicode", "spaces", "semicolon"])
def test_hostile_characters_in_paths(tmp_path: Path, name: str) -> None:
    where = tmp_path / name
    where.mkdir()
    db, store, to = where / f"{name}.duckdb", where / f"store {name}", where / f"to {name}.duckdb"
    code, _out, err = invoke(
        "run", "--years", "2025-2026", "--step", TOY_STEP, "--db", str(db), "--store", str(store)
    )
    assert code == 0, err
    code, out, err = invoke("list", "--db", str(db), "--store", str(store), "--json")
    assert code == 0 and "2026" in out, err
    code, _out, err = invoke(
        "restore", "--year", "2025", "--db", str(db), "--store", str(store), "--to", str(to)
    )
    assert code == 0, err
    assert table_fingerprints(to)  # the restored file opens and holds the tables
    code, _out, err = invoke("restore", "--year", "2025", "--db", str(db), "--store", str(store))
    assert code == 0, err
    assert table_fingerprints(db) == table_fingerprints(to)
    code, _out, err = invoke("verify", "--deep", "--db", str(db), "--store", str(store))
    assert code == 0, err
