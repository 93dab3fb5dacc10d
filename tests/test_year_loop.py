"""The year loop's setup shared by the library and the CLI: store, start point, logging."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke

import navsnap
from navsnap.config import Config


def _configured(tmp_path: Path) -> tuple[Config, Path]:
    elsewhere = tmp_path / "elsewhere"
    cfg_path = tmp_path / "navsnap.toml"
    cfg_path.write_text(f'[run]\nstep = "{TOY_STEP}"\n[snapshot]\nstore = "{elsewhere}"\n')
    return navsnap.load_config(cfg_path), elsewhere


def test_the_library_uses_the_configured_store(tmp_path: Path) -> None:
    config, elsewhere = _configured(tmp_path)
    db = tmp_path / "sim.duckdb"
    report = navsnap.run(config, db=db, years=(2025, 2026))
    assert report.store == str(elsewhere)
    assert (elsewhere / "navsnap-store.json").is_file()
    assert not (tmp_path / "snapshots").exists()
    assert navsnap.status(config, db=db, years=(2025, 2026)).action == "complete"
    resumed = navsnap.resume(config, db=db, years=(2025, 2027))
    assert [y.year for y in resumed.years_run] == [2027]
    manifest = navsnap.checkpoint(db=db, year=2027, config=config)
    assert (elsewhere / "manifests" / f"{manifest.snapshot_id}.json").is_file()
    assert not (tmp_path / "snapshots").exists()


def test_status_says_exactly_what_resume_does(tmp_path: Path, toy_config: Config) -> None:
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=store)
    said = navsnap.status(toy_config, db=db, years=(2025, 2028), store=store)
    assert said.from_cache  # the run's own record; run --resume always fingerprints
    done = navsnap.run(toy_config, db=db, years=(2025, 2028), store=store, resume=True)
    assert done.decision is not None
    assert done.decision.to_dict() == {**said.to_dict(), "from_cache": False}
    # No usable snapshot with a database present: both say it is moved aside first.
    other = tmp_path / "other-store"
    navsnap.open_store(str(other)).ensure_writable()  # a run creates its store before deciding
    said = navsnap.status(toy_config, db=db, years=(2025, 2026), store=str(other))
    assert said.moves_aside and "moved aside first" in said.explain()
    done = navsnap.run(toy_config, db=db, years=(2025, 2026), store=str(other), resume=True)
    assert done.decision is not None and done.decision.to_dict() == said.to_dict()
    assert len(done.moved_aside) == 1


def test_the_library_prints_nothing(
    tmp_path: Path, toy_config: Config, capfd: pytest.CaptureFixture[str]
) -> None:
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("navsnap").handlers)
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=store)
    navsnap.run(toy_config, db=db, years=(2025, 2027), store=store, resume=True)
    navsnap.status(toy_config, db=db, years=(2025, 2027), store=store)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_the_library_logs_its_decisions(
    tmp_path: Path, toy_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(toy_config, db=db, years=(2025, 2026), store=store)
    with caplog.at_level(logging.INFO, logger="navsnap"):
        navsnap.run(toy_config, db=db, years=(2025, 2027), store=store, resume=True)
    by_logger = {(r.name, r.getMessage().split(":")[0]) for r in caplog.records}
    assert ("navsnap.resume", "resume") in by_logger
    assert any("partition(s) reused" in r.getMessage() for r in caplog.records)


def test_verbose_shows_the_resume_decision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke("run", "--years", "2025-2026", "--step", TOY_STEP)
    assert code == 0 and "navsnap: resume:" not in err and "reused" not in err
    code, _, err = invoke("-v", "run", "--years", "2025-2027", "--step", TOY_STEP, "--resume")
    assert code == 0, err
    assert "navsnap: resume: database matches" in err
    assert "partition(s) reused" in err
    # -v lasts for its command only.
    code, _, err = invoke("status", "--years", "2025-2027", "--step", TOY_STEP)
    assert code == 0 and "navsnap: resume:" not in err
