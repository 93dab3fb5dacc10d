"""scripts/bench_scale.py measures what docs/benchmarks-scale.md says it measures: each
year's COPY baseline runs after that year's snapshot committed and before the next year's
step, and writes exactly the rows that snapshot wrote."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

import navsnap
from navsnap.manifest import Manifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import bench_scale

FIRST, LAST = 2025, 2026


def test_each_year_is_measured_between_its_commit_and_the_next_step(tmp_path: Path) -> None:
    cfg = navsnap.load_config(
        overrides={"simulation.employees": 300, "simulation.workforce.growth_rate": 0.0},
        search_cwd=False,
    )
    db, store = tmp_path / "sim.duckdb", tmp_path / "store"
    seen: list[tuple[int, int, int, int, float]] = []

    def then(manifest: Manifest, con: duckdb.DuckDBPyConnection, seconds: float) -> None:
        year = manifest.year
        later = con.execute(
            "SELECT count(*) FROM fct_workforce_snapshot WHERE simulation_year > ?", [year]
        ).fetchone()
        out = tmp_path / f"copy-{year}"
        copied = bench_scale.copy_new_rows(con, manifest, out)
        on_disk = con.execute(
            f"SELECT count(*) FROM read_parquet('{out.as_posix()}/*.parquet')"
        ).fetchone()
        new = sum(p.rows for t in manifest.tables for p in t.partitions if not p.reused)
        assert later is not None and on_disk is not None
        seen.append((year, int(later[0]), copied, int(on_disk[0]) - new, seconds))

    hook = bench_scale.AfterEachSnapshot(db=db, store=store, last=LAST, then=then)
    navsnap.run(
        cfg,
        db=db,
        years=(FIRST, LAST),
        store=str(store),
        on_event=hook,
        progress=hook.progress,
    )
    assert [s[0] for s in seen] == [FIRST, LAST]
    for year, later_rows, copied, missing, seconds in seen:
        assert later_rows == 0, f"year {year + 1} had started when {year} was measured"
        assert copied > 0 and missing == 0, year
        assert 0 < seconds < 600, year
    # The first snapshot writes the global tables too; later ones only their own year.
    assert seen[0][2] > seen[1][2]
