"""Paths navsnap puts into SQL are quoted (issue 13): a quote, a newline, unicode and spaces
in the store path, the database path and ``restore --to`` all work. A database whose catalog
name (its file's stem) holds a double quote or a control character is refused before anything is
written: every reader refuses such a ``database_name`` in a manifest (docs/format.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import invoke, table_fingerprints

TOY_STEP = "toy_pipeline:step"
NAMES = ["it's", "new\nline", "ünï ćødé", "two  spaces", "semi;colon--"]
#: Not a catalog name navsnap snapshots: the database file is named otherwise for these.
REFUSED_CATALOG = {"new\nline"}


@pytest.mark.parametrize("name", NAMES, ids=["quote", "newline", "unicode", "spaces", "semicolon"])
def test_hostile_characters_in_paths(tmp_path: Path, name: str) -> None:
    where = tmp_path / name
    where.mkdir()
    stem = "db" if name in REFUSED_CATALOG else name
    db, store, to = where / f"{stem}.duckdb", where / f"store {name}", where / f"to {name}.duckdb"
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


@pytest.mark.parametrize("stem", ['say "hi"', "new\nline", "bell\x07", "esc\x1b[31m"])
def test_a_catalog_name_with_a_quote_or_control_character_is_refused(
    tmp_path: Path, stem: str
) -> None:
    db, store = tmp_path / f"{stem}.duckdb", tmp_path / "store"
    code, _out, err = invoke(
        "run", "--years", "2025-2026", "--step", TOY_STEP, "--db", str(db), "--store", str(store)
    )
    assert code == 4, err
    assert "cannot be snapshotted" in err and "Traceback" not in err, err
    assert not list(store.glob("manifests/*.json"))
    # Refused before the first step: the run had not begun to change the database.
    assert not db.exists()
