from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from conftest import TOY_STEP, fork_cli, invoke_at, table_fingerprints

import navsnap
from navsnap import statcache
from navsnap.config import Config
from navsnap.errors import DatabaseError, DriftError, UsageError


def reference(tmp_path: Path, config: Config, last: int = 2029) -> dict[str, tuple[int, str]]:
    ref = tmp_path / f"ref-{last}.duckdb"
    navsnap.run(config, db=ref, years=(2025, last), snapshots=False)
    return table_fingerprints(ref)


def test_killed_during_2027_then_resumed_equals_uninterrupted(
    tmp_path: Path, toy_config: Config
) -> None:
    # SIGKILL right after 2027's step, before its snapshot: the database holds an
    # unsnapshotted 2027 that --resume must roll back to the end of 2026.
    killed = fork_cli(
        "run",
        "--years",
        "2025-2029",
        "--step",
        TOY_STEP,
        "--db",
        "sim.duckdb",
        cwd=tmp_path,
        env={"NAVSNAP_FAULT": "after-step@3"},
    )
    assert killed.returncode == -9, killed.stderr
    cfg = tmp_path / "navsnap.toml"
    cfg.write_text(f'[run]\nstep = "{TOY_STEP}"\n')
    status = invoke_at(
        "status", "--years", "2025-2029", "--json", "--db", "sim.duckdb", cwd=tmp_path
    )
    decision = json.loads(status.stdout)
    # The 2026 export overlaps the 2027 step, so the kill may come before 2026 committed:
    # resume must pick the newest snapshot that did commit.
    committed = [s.year for s in navsnap.list_snapshots(tmp_path / "snapshots")[0]]
    assert committed in ([2025], [2025, 2026])
    assert decision["action"] == "restore" and decision["snapshot_year"] == committed[-1]
    resumed = invoke_at(
        "run", "--years", "2025-2029", "--resume", "--db", "sim.duckdb", cwd=tmp_path
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "restoring" in resumed.stdout and "2027" in resumed.stdout
    assert table_fingerprints(tmp_path / "sim.duckdb") == reference(tmp_path, toy_config)
    snaps, _ = navsnap.list_snapshots(tmp_path / "snapshots")
    assert [s.year for s in snaps] == [2025, 2026, 2027, 2028, 2029]


def test_resume_fast_path_continues_without_restoring(tmp_path: Path, toy_config: Config) -> None:
    db = tmp_path / "sim.duckdb"
    store = str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=store)
    decision = navsnap.status(toy_config, db=db, years=(2025, 2029), store=store)
    assert decision.action == "continue" and decision.next_year == 2027
    events: list[str] = []
    report = navsnap.run(
        toy_config,
        db=db,
        years=(2025, 2029),
        store=store,
        resume=True,
        on_event=lambda e: events.append(e.message),
    )
    assert [y.year for y in report.years_run] == [2027, 2028, 2029]
    assert report.moved_aside == () and any("matches" in e for e in events)
    assert table_fingerprints(db) == reference(tmp_path, toy_config)
    done = navsnap.status(toy_config, db=db, years=(2025, 2029), store=store)
    assert done.action == "complete"


def test_the_stat_record_is_keyed_on_the_running_duckdb() -> None:
    """The record's engine is read from the installed DuckDB's metadata without importing it
    (``status`` from a record never starts DuckDB); it is the version the process runs, under
    every release CI runs this suite with."""
    statcache.engine_key.cache_clear()
    assert statcache.engine_key() == duckdb.__version__


def test_resume_with_no_snapshot_starts_at_the_first_year(
    tmp_path: Path, toy_config: Config
) -> None:
    db = tmp_path / "sim.duckdb"
    report = navsnap.run(
        toy_config, db=db, years=(2025, 2026), store=str(tmp_path / "s"), resume=True
    )
    assert report.decision is not None and report.decision.action == "start"
    assert [y.year for y in report.years_run] == [2025, 2026]


def test_resume_falls_back_past_a_corrupt_snapshot(tmp_path: Path, toy_config: Config) -> None:
    db = tmp_path / "sim.duckdb"
    store = tmp_path / "store"
    navsnap.run(toy_config, db=db, years=(2025, 2027), store=str(store))
    snaps, _ = navsnap.list_snapshots(store)
    m = navsnap.show(store, snaps[-1].snapshot_id)
    obj = store / m.table("yearly").partitions[-1].object.key
    obj.write_bytes(b"not parquet any more")
    db.unlink()
    report = navsnap.run(toy_config, db=db, years=(2025, 2029), store=str(store), resume=True)
    assert report.decision is not None and report.decision.snapshot is not None
    assert report.decision.snapshot.year == 2026
    assert any("skipped snapshot" in s for s in report.decision.skipped)
    assert table_fingerprints(db) == reference(tmp_path, toy_config)


def test_changed_configuration_is_refused_with_the_changed_keys(
    tmp_path: Path, toy_config: Config
) -> None:
    db = tmp_path / "sim.duckdb"
    (tmp_path / "navsnap.toml").write_text(f'[run]\nstep = "{TOY_STEP}"\nseed = 1\n')
    first = invoke_at("run", "--years", "2025-2026", "--db", "sim.duckdb", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = db.read_bytes()
    (tmp_path / "navsnap.toml").write_text(f'[run]\nstep = "{TOY_STEP}"\nseed = 2\n')
    again = invoke_at("run", "--years", "2025-2029", "--resume", "--db", "sim.duckdb", cwd=tmp_path)
    assert again.returncode == 10
    assert "run.seed: 1 -> 2" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and "Traceback" not in again.stderr
    assert db.read_bytes() == before
    status = invoke_at("status", "--db", "sim.duckdb", cwd=tmp_path)
    assert status.returncode == 10 and "run.seed" in status.stderr


def test_drift_in_declared_input_files(tmp_path: Path) -> None:
    (tmp_path / "model.sql").write_text("select 1")
    cfg_path = tmp_path / "navsnap.toml"
    cfg_path.write_text(f'[run]\nstep = "{TOY_STEP}"\n[inputs]\nfiles = ["model.sql"]\n')
    cfg = navsnap.load_config(cfg_path)
    db = tmp_path / "sim.duckdb"
    navsnap.run(cfg, db=db, years=(2025, 2026), store=str(tmp_path / "store"))
    (tmp_path / "model.sql").write_text("select 2")
    with pytest.raises(DriftError) as info:
        navsnap.run(
            navsnap.load_config(cfg_path),
            db=db,
            years=(2025, 2029),
            store=str(tmp_path / "store"),
            resume=True,
        )
    assert [c.path for c in info.value.changed_inputs] == ["model.sql"]
    assert "input model.sql changed" in info.value.one_line()


def test_an_input_changed_during_a_run_stops_it_before_that_year_s_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inputs were hashed once, at the run's start: a model file rewritten during 2026 gave
    # a lineage whose manifests all recorded the old hash over tables built from both.
    model, marker = tmp_path / "model.sql", tmp_path / "edit-once"
    model.write_text("select 1")
    marker.touch()
    (tmp_path / "editing_step.py").write_text(
        "import toy_pipeline, pathlib\n"
        "def step(con, year, config):\n"
        "    toy_pipeline.step(con, year, config)\n"
        f"    marker = pathlib.Path({str(marker)!r})\n"
        "    if year == 2026 and marker.exists():\n"
        "        marker.unlink()\n"
        f"        pathlib.Path({str(model)!r}).write_text('select 2')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg_path = tmp_path / "navsnap.toml"
    cfg_path.write_text('[run]\nstep = "editing_step:step"\n[inputs]\nfiles = ["model.sql"]\n')
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    with pytest.raises(DriftError) as info:
        navsnap.run(navsnap.load_config(cfg_path), db=db, years=(2025, 2028), store=store)
    assert [c.path for c in info.value.changed_inputs] == ["model.sql"]
    assert "year 2026: declared input model.sql changed" in info.value.one_line()
    snaps, _ = navsnap.list_snapshots(store)
    assert [s.year for s in snaps] == [2025]
    # Put back, --resume redoes 2026 from 2025's snapshot and ends as an uninterrupted run.
    model.write_text("select 1")
    cfg = navsnap.load_config(cfg_path)
    report = navsnap.run(cfg, db=db, years=(2025, 2028), store=store, resume=True)
    assert [y.year for y in report.years_run] == [2026, 2027, 2028]
    assert table_fingerprints(db) == reference(tmp_path, cfg, 2028)


def test_force_restart_moves_the_database_aside(tmp_path: Path, toy_config: Config) -> None:
    db = tmp_path / "sim.duckdb"
    store = str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=store)
    report = navsnap.run(toy_config, db=db, years=(2025, 2027), store=store, force_restart=True)
    assert [y.year for y in report.years_run] == [2025, 2026, 2027]
    assert len(report.moved_aside) == 1 and "before-force-restart" in report.moved_aside[0]
    assert Path(report.moved_aside[0]).exists()
    assert table_fingerprints(db) == reference(tmp_path, toy_config, 2027)
    with pytest.raises(UsageError, match="contradict"):
        navsnap.run(toy_config, db=db, years=(2025, 2027), resume=True, force_restart=True)


def test_partial_re_execution_from_a_snapshot(tmp_path: Path, toy_config: Config) -> None:
    db = tmp_path / "sim.duckdb"
    store = str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2029), store=store)
    con = duckdb.connect(str(db))
    con.execute("UPDATE yearly SET pay = 0 WHERE simulation_year = 2027")
    con.close()
    report = navsnap.run(toy_config, db=db, years=(2027, 2028), store=store, from_snapshot=2026)
    assert [y.year for y in report.years_run] == [2027, 2028]
    assert table_fingerprints(db) == reference(tmp_path, toy_config, 2028)
    with pytest.raises(UsageError, match="year before"):
        navsnap.run(toy_config, db=db, years=(2027, 2028), store=store, from_snapshot=2025)


def test_new_run_on_an_existing_simulation_is_refused(
    tmp_path: Path, sim_config: Callable[..., Config]
) -> None:
    cfg = sim_config(employees=200)
    db = tmp_path / "sim.duckdb"
    navsnap.run(cfg, db=db, years=(2025, 2025), snapshots=False)
    before = db.read_bytes()
    with pytest.raises(UsageError, match="already holds a simulation"):
        navsnap.run(cfg, db=db, years=(2025, 2026), snapshots=False)
    assert db.read_bytes() == before


def test_python_api_resume(tmp_path: Path, toy_config: Config) -> None:
    db = tmp_path / "sim.duckdb"
    store = str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=store)
    report = navsnap.resume(toy_config, db=db, years=(2025, 2028), store=store)
    assert [y.year for y in report.years_run] == [2027, 2028]
    assert table_fingerprints(db) == reference(tmp_path, toy_config, 2028)


def test_resume_of_the_following_years_continues_from_the_year_before(
    tmp_path: Path, toy_config: Config
) -> None:
    db = tmp_path / "sim.duckdb"
    store = str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=store)
    report = navsnap.run(toy_config, db=db, years=(2027, 2029), store=store, resume=True)
    assert report.decision is not None and report.decision.action == "continue"
    assert report.moved_aside == () and [y.year for y in report.years_run] == [2027, 2028, 2029]
    assert table_fingerprints(db) == reference(tmp_path, toy_config)
    last = navsnap.list_snapshots(store)[0][-1]
    assert navsnap.show(store, last.snapshot_id).config.origin_year == 2025


def test_resume_ignores_a_run_of_the_same_config_that_began_later(
    tmp_path: Path, sim_config: Callable[..., Config]
) -> None:
    cfg = sim_config(employees=150)
    store = str(tmp_path / "store")
    early, late = tmp_path / "early.duckdb", tmp_path / "late.duckdb"
    navsnap.run(cfg, db=early, years=(2025, 2026), store=store)
    navsnap.run(cfg, db=late, years=(2027, 2029), store=store)  # its own census
    decision = navsnap.status(cfg, db=early, years=(2025, 2029), store=store)
    assert decision.snapshot is not None and decision.snapshot.year == 2026
    assert decision.action == "continue"


def test_force_restart_refuses_a_database_another_process_has_open(
    tmp_path: Path, toy_config: Config
) -> None:
    """Every other command refused this; --force-restart moved the file aside from under
    the process holding it open."""
    db = tmp_path / "sim.duckdb"
    store = str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=store)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(DatabaseError, match="is open in another process"):
            navsnap.run(toy_config, db=db, years=(2025, 2027), store=store, force_restart=True)
        assert not list(tmp_path.glob("*before-force-restart*"))
    finally:
        holder.kill()
        holder.wait()


HOLD_OPEN = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


def test_checkpoint_of_a_database_open_elsewhere_says_so(
    tmp_path: Path, toy_config: Config
) -> None:
    """It said the database 'cannot be opened' and advised a restore: it is not damaged."""
    db = tmp_path / "sim.duckdb"
    store = tmp_path / "store"
    navsnap.run(toy_config, db=db, years=(2025, 2025), snapshots=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(DatabaseError, match="is open in another process") as info:
            navsnap.checkpoint(db=db, year=2025, store=store, config=toy_config)
        assert "restore" not in info.value.one_line()
    finally:
        holder.kill()
        holder.wait()


def test_resume_against_a_store_that_does_not_exist_changes_nothing(
    tmp_path: Path, toy_config: Config
) -> None:
    # A mistyped --store held no snapshot: --resume moved the database aside and started
    # over from the first year. It is refused now (exit 7), the store never created.
    db = tmp_path / "sim.duckdb"
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=str(tmp_path / "store"))
    before = db.read_bytes()
    res = invoke_at(
        "run", "--years", "2025-2027", "--resume", "--step", TOY_STEP,
        "--db", "sim.duckdb", "--store", "stroe", cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 7 and "no navsnap store at" in res.stderr, res.stderr
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if "before-" in p.name) == []
    assert not (tmp_path / "stroe").exists()
