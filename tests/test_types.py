"""Every DuckDB type round-trips exactly through a snapshot, compared by value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from types_pipeline import COLUMNS

import navsnap
from navsnap.config import load_config


def values(db: Path) -> dict[str, Any]:
    """Every table's column types and rows, each value as DuckDB's own text and as a hash.

    The text tells -0.0 from 0.0, NaN from NULL and keeps an interval's parts and a
    TIMETZ's offset; the per-value hash catches what text could fold together.
    """
    con = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, Any] = {}
        for (table,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT internal ORDER BY 1"
        ).fetchall():
            cols = con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                "ORDER BY column_index",
                [table],
            ).fetchall()
            exprs = ", ".join(f'"{c}"::VARCHAR, hash("{c}")' for c, _ in cols)
            out[table] = (
                cols,
                con.execute(f'SELECT {exprs} FROM "{table}" ORDER BY ALL').fetchall(),
            )
        out["types"] = con.execute(
            "SELECT type_name, logical_type FROM duckdb_types() WHERE NOT internal "
            "AND database_name = current_database() ORDER BY 1"
        ).fetchall()
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def typed_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("types")
    config = load_config(overrides={"run.step": "types_pipeline:step"}, search_cwd=False)
    db, store = root / "typed.duckdb", root / "store"
    navsnap.run(config, db=db, years=(2025, 2026), store=str(store))
    return db, store


def test_every_type_round_trips_by_value(typed_run: tuple[Path, Path], tmp_path: Path) -> None:
    db, store = typed_run
    out = tmp_path / "restored.duckdb"
    navsnap.restore(db=db, store=str(store), year=2026, to=out)
    want, got = values(db), values(out)
    assert got["types"] == want["types"] and want["types"], "user-defined types come back"
    for table in ("typed", "moods"):
        want_cols, want_rows = want[table]
        got_cols, got_rows = got[table]
        assert got_cols == want_cols, f"{table}: column types differ"
        for w, g in zip(want_rows, got_rows, strict=True):
            for i, (name, typ) in enumerate(want_cols):
                assert g[2 * i : 2 * i + 2] == w[2 * i : 2 * i + 2], f"{table}.{name} {typ}"
    assert {name for name, _, _ in COLUMNS} <= {c for c, _ in want["typed"][0]}


def test_the_restored_database_goes_on_with_the_next_year(
    typed_run: tuple[Path, Path], tmp_path: Path
) -> None:
    """A full restore brings the ENUM type back, so the step can insert the next year."""
    db, store = typed_run
    work = tmp_path / "w.duckdb"
    navsnap.restore(db=db, store=str(store), year=2025, to=work)
    config = load_config(overrides={"run.step": "types_pipeline:step"}, search_cwd=False)
    # no snapshots: a new store holds no snapshot of the copy, so a plain run is refused
    navsnap.run(config, db=work, years=(2026, 2026), snapshots=False)
    want = values(db)
    assert values(work)["moods"] == want["moods"]
