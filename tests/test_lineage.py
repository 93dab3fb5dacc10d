"""Lineage identity per step: what enters the configuration hash and what counts as drift."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import xxhash
from conftest import SUPPORT, TOY_STEP

import navsnap
from navsnap.config import Config, flatten, load_config
from navsnap.errors import DriftError
from navsnap.lineage import config_block, config_hash, drift, identity, same_lineage
from navsnap.manifest import ConfigBlock, Manifest


def _cfg(**overrides: object) -> Config:
    return load_config(overrides=overrides, search_cwd=False)


def test_builtin_config_hash_is_unchanged_for_existing_stores() -> None:
    # The hashes navsnap wrote before identities were per step: old stores stay one lineage.
    assert config_block(_cfg())["hash"] == "88d74b038ab22973193693005185b8a5"
    assert (
        config_block(_cfg(**{"simulation.employees": 500, "run.seed": 7}))["hash"]
        == "4ea4eda1e87ba5b575d02c660d1bfb14"
    )


def test_each_step_declares_its_identity() -> None:
    assert identity(_cfg())["simulation.employees"] == 10000
    shell = identity(_cfg(**{"run.step": "shell:dbt run"}))
    assert shell == {
        "run.seed": 42,
        "run.step": "shell:dbt run",
        "run.year_column": "simulation_year",
    }
    python = identity(_cfg(**{"run.step": TOY_STEP}))
    assert not any(k.startswith("simulation.") for k in python)
    code = (SUPPORT / "toy_pipeline.py").read_bytes()
    assert python["step.code"] == xxhash.xxh3_128_hexdigest(code)


def test_simulation_keys_are_not_drift_for_a_shell_step() -> None:
    a = config_block(_cfg(**{"run.step": "shell:dbt run"}))
    b = config_block(_cfg(**{"run.step": "shell:dbt run", "simulation.employees": 5}))
    assert a["hash"] == b["hash"]
    c = config_block(_cfg(**{"run.step": "shell:dbt run --full-refresh"}))
    keys, inputs = drift(ConfigBlock.from_dict(a), c)
    assert [(k.key, k.old, k.new) for k in keys] == [
        ("run.step", "shell:dbt run", "shell:dbt run --full-refresh")
    ]
    assert inputs == [] and not same_lineage(ConfigBlock.from_dict(a), c)


def _old_style(block: Mapping[str, Any], config: Config) -> ConfigBlock:
    """A config block as navsnap wrote it for every step before identities were per step."""
    ident = {k: v for k, v in block["identity"].items() if k != "step.code"}
    ident.update(flatten(config.simulation, "simulation"))
    old = {**block, "identity": ident, "hash": config_hash(ident, block["inputs"])}
    return ConfigBlock.from_dict(old)


def test_an_old_manifest_of_a_non_builtin_step_is_compared_on_the_steps_keys_only() -> None:
    config = _cfg(**{"run.step": "shell:dbt run"})
    new = config_block(config)
    old = _old_style(new, config)
    assert old.hash != new["hash"]
    edited = config_block(_cfg(**{"run.step": "shell:dbt run", "simulation.employees": 5}))
    assert drift(old, edited) == ([], []) and same_lineage(old, edited)
    reseeded = config_block(_cfg(**{"run.step": "shell:dbt run", "run.seed": 1}))
    assert [k.key for k in drift(old, reseeded)[0]] == ["run.seed"]


def test_resume_of_a_python_step_ignores_an_edited_simulation_section(tmp_path: Path) -> None:
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(_cfg(**{"run.step": TOY_STEP}), db=db, years=(2025, 2026), store=store)
    edited = _cfg(**{"run.step": TOY_STEP, "simulation.employees": 123})
    report = navsnap.run(edited, db=db, years=(2025, 2028), store=store, resume=True)
    assert report.decision is not None and report.decision.action == "continue"
    assert [y.year for y in report.years_run] == [2027, 2028]
    # The step's own command is its identity: changing it is still refused, naming it.
    other = _cfg(**{"run.step": "python:" + TOY_STEP})
    with pytest.raises(DriftError) as info:
        navsnap.run(other, db=db, years=(2025, 2029), store=store, resume=True)
    assert [k.key for k in info.value.changed_keys] == ["run.step"]


def test_resume_of_a_shell_step_ignores_an_edited_simulation_section(tmp_path: Path) -> None:
    script = tmp_path / "step.py"
    script.write_text(
        "import duckdb, sys\n"
        "db, year = sys.argv[1], int(sys.argv[2])\n"
        "c = duckdb.connect(db)\n"
        "c.execute('CREATE TABLE IF NOT EXISTS t (simulation_year INTEGER, v INTEGER)')\n"
        "c.execute('INSERT INTO t VALUES (?, ?)', [year, year * 2])\n"
    )
    step = f"shell:{sys.executable} {script} {{db}} {{year}}"
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(_cfg(**{"run.step": step}), db=db, years=(2025, 2026), store=store)
    edited = _cfg(**{"run.step": step, "simulation.employees": 123})
    decision = navsnap.status(edited, db=db, years=(2025, 2027), store=store)
    assert decision.action == "continue" and decision.next_year == 2027
    with pytest.raises(DriftError, match=r"run\.step: .* -> .*--flag"):
        navsnap.status(
            _cfg(**{"run.step": step + " --flag"}), db=db, years=(2025, 2027), store=store
        )


def test_an_old_store_of_a_python_step_resumes_after_an_edited_simulation_section(
    tmp_path: Path,
) -> None:
    """Manifests written before identities were per step carry simulation.* and no step.code."""
    db, store = tmp_path / "sim.duckdb", tmp_path / "store"
    config = _cfg(**{"run.step": TOY_STEP})
    navsnap.run(config, db=db, years=(2025, 2026), store=str(store))
    for path in (store / "manifests").glob("*.json"):
        manifest = Manifest.from_json(path.read_bytes())
        old_config = _old_style(manifest.config.to_dict(), config)
        old = dataclasses.replace(manifest, config=old_config)
        path.write_bytes(old.to_json())
    edited = _cfg(**{"run.step": TOY_STEP, "simulation.employees": 123})
    report = navsnap.run(edited, db=db, years=(2025, 2027), store=str(store), resume=True)
    assert report.decision is not None and report.decision.action == "continue"
    assert [y.year for y in report.years_run] == [2027]
