"""Chains and forks: --resume continues the chain the live database is on.

The fix-rollback scenario: run 2025-2028; fix a bug outside the configuration (same lineage);
re-run 2027 from the 2026 snapshot; then ``--resume`` must continue the *fixed* chain, never
restore the older run's 2027/2028 over the fixed rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import rollback_pipeline
from conftest import invoke, tree_bytes

import navsnap
from navsnap.config import load_config

STEP = "rollback_pipeline:step"


@pytest.fixture
def fixed() -> Iterator[None]:
    rollback_pipeline.FIXED = False
    yield
    rollback_pipeline.FIXED = False


def _cfg(**overrides: object) -> navsnap.Config:
    return load_config(overrides={"run.step": STEP, **overrides}, search_cwd=False)


def _notes(db: Path) -> dict[int, set[str]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT simulation_year, note FROM yearly WHERE simulation_year >= 2027 GROUP BY ALL"
        ).fetchall()
    finally:
        con.close()
    out: dict[int, set[str]] = {}
    for year, note in rows:
        out.setdefault(int(year), set()).add(str(note))
    return out


def _rolled_back(tmp_path: Path) -> tuple[Path, str, str]:
    """Run 2025-2028 (buggy), fix, re-run 2027 from the 2026 snapshot: (db, run1, run2)."""
    db = tmp_path / "simulation.duckdb"
    first = navsnap.run(_cfg(), db=db, years=(2025, 2028))
    rollback_pipeline.FIXED = True
    second = navsnap.run(_cfg(), db=db, years=(2027, 2027), from_snapshot=f"{first.run_id}-2026")
    assert _notes(db) == {2027: {"fixed"}}
    return db, first.run_id, second.run_id


def test_resume_after_a_fix_rollback_continues_the_fixed_chain(tmp_path: Path, fixed: None) -> None:
    db, first, second = _rolled_back(tmp_path)
    code, out, err = invoke("status", "--years", "2025-2028", "--step", STEP, "--db", str(db))
    assert code == 0, err
    assert f"database matches {second}-2027" in out and "continuing with 2028" in out

    report = navsnap.resume(_cfg(), db=db, years=(2025, 2028))

    assert report.decision is not None and report.decision.action == "continue"
    assert [y.year for y in report.years_run] == [2028]
    assert _notes(db) == {2027: {"fixed"}, 2028: {"fixed"}}
    snaps = {s.snapshot_id: s for s in navsnap.list_snapshots(tmp_path / "snapshots")[0]}
    assert snaps[f"{report.run_id}-2028"].parent == f"{second}-2027"
    assert snaps[f"{second}-2027"].parent == f"{first}-2026"
    # Finished: both status and --resume say so.
    code, out, err = invoke("status", "--years", "2025-2028", "--step", STEP, "--db", str(db))
    assert code == 0 and out.startswith("run already complete at 2028"), (out, err)
    again = navsnap.resume(_cfg(), db=db, years=(2025, 2028))
    assert again.years_run == () and again.decision is not None
    assert again.decision.explain().startswith("run already complete at 2028")


def test_resume_of_a_lost_database_after_a_fix_restores_the_fixed_chain(
    tmp_path: Path, fixed: None
) -> None:
    db, _first, second = _rolled_back(tmp_path)
    db.unlink()

    report = navsnap.resume(_cfg(), db=db, years=(2025, 2028))

    assert report.decision is not None and report.decision.snapshot is not None
    assert report.decision.snapshot.snapshot_id == f"{second}-2027"
    assert _notes(db) == {2027: {"fixed"}, 2028: {"fixed"}}


def test_status_on_a_finished_run_never_says_continuing_past_the_last_year(
    tmp_path: Path,
) -> None:
    db = tmp_path / "simulation.duckdb"
    navsnap.run(_cfg(), db=db, years=(2025, 2026))
    code, out, err = invoke("status", "--years", "2025-2026", "--step", STEP, "--db", str(db))
    assert code == 0 and out.startswith("run already complete at 2026"), (out, err)
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM audit.log WHERE simulation_year = 2026")  # needs a restore
    con.close()
    code, out, err = invoke("status", "--years", "2025-2026", "--step", STEP, "--db", str(db))
    assert code == 0, err
    assert "restoring" in out and "run already complete at 2026" in out, out
    assert "continuing with 2027" not in out


def test_resume_refuses_to_drop_years_no_snapshot_of_the_chain_has(tmp_path: Path) -> None:
    db = tmp_path / "simulation.duckdb"
    report = navsnap.run(_cfg(), db=db, years=(2025, 2029))
    store = tmp_path / "snapshots"
    for year in (2027, 2028, 2029):  # e.g. pruned away: the database is ahead of the chain
        (store / "manifests" / f"{report.run_id}-{year}.json").unlink()
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM audit.log WHERE simulation_year = 2029")  # matches no snapshot
    con.close()
    before = tree_bytes(tmp_path)
    code, _out, err = invoke(
        "run", "--years", "2025-2029", "--resume", "--step", STEP, "--db", str(db)
    )
    assert code == 10, err
    assert len(err.strip().splitlines()) == 1 and "years up to 2029" in err
    assert tree_bytes(tmp_path) == before


def test_a_fork_runs_resumes_and_never_crosses(tmp_path: Path) -> None:
    db = tmp_path / "simulation.duckdb"
    base = navsnap.run(_cfg(), db=db, years=(2025, 2027))
    code, out, err = invoke(
        "run",
        "--years",
        "2027-2028",
        "--from-snapshot",
        f"{base.run_id}@2026",
        "--step",
        STEP,
        "--seed",
        "7",
        "--db",
        str(db),
    )
    assert code == 0, err
    assert "forking lineage" in out
    code, out, err = invoke("list", "--store", str(tmp_path / "snapshots"), "--json")
    snaps = json.loads(out)["snapshots"]
    forks = [s for s in snaps if s["fork_of"]]
    assert [(s["year"], s["fork_of"]) for s in forks] == [(2027, f"{base.run_id}-2026")]
    assert len({s["lineage"] for s in snaps}) == 2
    code, out, err = invoke("show", forks[0]["snapshot_id"], "--db", str(db))
    assert code == 0 and f"fork of    {base.run_id}-2026" in out, err

    # The fork resumes within its own lineage.
    fork = navsnap.resume(_cfg(**{"run.seed": 7}), db=db, years=(2025, 2029))
    assert fork.decision is not None and fork.decision.action == "continue"
    assert [y.year for y in fork.years_run] == [2029]
    # The base lineage does not restore its 2027 over the fork's database: it refuses.
    before = tree_bytes(tmp_path)
    code, _out, err = invoke(
        "run", "--years", "2025-2029", "--resume", "--step", STEP, "--db", str(db)
    )
    assert code == 10 and "not on a chain of this configuration" in err, err
    assert tree_bytes(tmp_path) == before


def test_parent_links_that_form_a_cycle_do_not_hang_resume() -> None:
    from dataclasses import replace

    from navsnap.manifest import ConfigBlock, Manifest
    from navsnap.resume import _newest_descendant

    base = Manifest(
        snapshot_id="r-2025",
        run_id="r",
        year=2025,
        created_at="2026-01-01T00:00:00Z",
        mode="parquet",
        navsnap_version="0",
        duckdb_version="0",
        database_name="db",
        storage_version=None,
        year_column="simulation_year",
        config=ConfigBlock(),
        tables=(),
        parent="r-2026",
    )
    child = replace(base, snapshot_id="r-2026", year=2026, parent="r-2025")
    assert _newest_descendant(base, [base, child]) == child
