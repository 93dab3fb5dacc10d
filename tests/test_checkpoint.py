"""checkpoint records the configuration and year the database really has (issue 11).

Reproduced before the fix: ``checkpoint`` on a 1,000-employee database stamped the default
configuration (10,000 employees), so ``status`` planned to mix it into the 10,000 lineage;
``checkpoint --year 2031`` on data that ends in 2029 was accepted.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import TOY_STEP, invoke, tree_bytes
from toy_pipeline import step as toy_step

import navsnap
from navsnap.config import load_config
from navsnap.errors import ConfigError
from navsnap.index import read_all
from navsnap.lineage import config_block
from navsnap.store import open_store


@pytest.fixture(autouse=True)
def _cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no navsnap.toml of the developer's


def toy_db(path: Path, years: tuple[int, int]) -> Path:
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    navsnap.run(cfg, db=path, years=years, snapshots=False)
    return path


def both(db: Path, store: Path) -> dict[str, bytes]:
    return {**{f"db/{k}": v for k, v in tree_bytes(db).items()}, **tree_bytes(store)}


def refused(args: tuple[str, ...], code: int, needle: str, db: Path, store: Path) -> str:
    before = both(db, store)
    got, _out, err = invoke("checkpoint", *args, "--db", str(db), "--store", str(store))
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert got == code and len(lines) == 1, (got, err)
    assert lines[0].startswith("navsnap: error: ") and needle in lines[0], lines[0]
    assert both(db, store) == before, "a refused checkpoint wrote something"
    return lines[0]


def test_a_builtin_database_is_not_stamped_with_the_default_census(tmp_path: Path) -> None:
    db = tmp_path / "small.duckdb"
    cfg = load_config(overrides={"simulation.employees": 150}, search_cwd=False)
    navsnap.run(cfg, db=db, years=(2025, 2025), snapshots=False)
    store = tmp_path / "store"

    line = refused(("--year", "2025"), 3, "built with 150 employees", db, store)
    assert "10,000" in line and "--employees 150" in line
    refused(("--year", "2025", "--employees", "1000"), 3, "built with 150", db, store)

    code, _, err = invoke("checkpoint", "--year", "2025", "--employees", "150",
                          "--db", str(db), "--store", str(store))  # fmt: skip
    assert code == 0, err
    [m] = read_all(open_store(store))[0]
    assert m.config.identity["simulation.employees"] == 150
    assert m.config.hash == config_block(cfg)["hash"]


def test_the_year_must_be_the_newest_one_the_tables_hold(tmp_path: Path) -> None:
    db = toy_db(tmp_path / "sim.duckdb", (2028, 2029))
    store = tmp_path / "store"
    step = ("--step", TOY_STEP)
    line = refused(("--year", "2031", *step), 2, "hold no rows for 2031", db, store)
    assert "newest year is 2029" in line and "--year 2029" in line
    refused(("--year", "2028", *step), 2, "not the newest year", db, store)
    empty = tmp_path / "empty.duckdb"
    con = duckdb.connect(str(empty))
    con.execute("CREATE TABLE yearly (simulation_year INTEGER, x INTEGER)")
    con.close()
    refused(("--year", "2025", *step), 2, "hold no rows", empty, store)
    code, _, err = invoke("checkpoint", "--year", "2029", *step, "--db", str(db),
                          "--store", str(store))  # fmt: skip
    assert code == 0, err


def test_without_a_configuration_it_inherits_this_databases_last_snapshot(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    toy = load_config(overrides={"run.step": TOY_STEP, "run.seed": 7}, search_cwd=False)
    db = tmp_path / "sim.duckdb"
    report = navsnap.run(toy, db=db, years=(2025, 2026), store=store)
    # another database of another lineage, newer, in the same store: never inherited
    other = load_config(overrides={"run.step": TOY_STEP, "run.seed": 8}, search_cwd=False)
    navsnap.run(other, db=tmp_path / "other.duckdb", years=(2025, 2026), store=store)
    # the pipeline runs 2027 outside navsnap, then a hook checkpoints it
    con = duckdb.connect(str(db))
    toy_step(con, 2027, toy)
    con.close()

    code, _, err = invoke("checkpoint", "--year", "2027", "--db", str(db), "--store", str(store))
    assert code == 0, err
    mine = [m for m in read_all(open_store(store))[0] if m.database_name == "sim"]
    last, prev = mine[-1], mine[-2]
    assert last.year == 2027 and prev.snapshot_id == f"{report.run_id}-2026"
    assert last.config.hash == prev.config.hash and last.config.identity["run.seed"] == 7
    assert last.config.origin_year == 2025 and last.parent == prev.snapshot_id

    # a database with no snapshot, no configuration and not the built-in simulation's tables
    lone = toy_db(tmp_path / "lone.duckdb", (2025, 2025))
    line = refused(("--year", "2025"), 3, "no configuration for database", lone, store)
    assert "'lone'" in line and "--config" in line


#: Run ids that are not one name in the store: a path out of it, a folder that list, show and
#: verify never look in, an '@' no RUN@YEAR can name, blanks, an over-long name.
BAD_RUN_IDS = ("../evil", "a/b", "q@2025", "two words", "line\nbreak", "x" * 300, "", ".hidden")


@pytest.mark.parametrize("run_id", BAD_RUN_IDS)
def test_a_run_id_that_cannot_name_a_run_is_refused_before_anything_runs(
    tmp_path: Path, run_id: str
) -> None:
    db = toy_db(tmp_path / "sim.duckdb", (2025, 2026))
    store = tmp_path / "store"
    step = ("--step", TOY_STEP)
    refused(("--year", "2026", *step, "--run", run_id), 2, "is not allowed", db, store)

    before = both(db, store)
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    with pytest.raises(navsnap.UsageError, match=r"run id .* is not allowed"):
        navsnap.checkpoint(db=db, year=2026, store=store, config=cfg, run_id=run_id)
    assert both(db, store) == before


def test_a_run_id_of_letters_digits_dots_and_dashes_files_its_snapshot(tmp_path: Path) -> None:
    db = toy_db(tmp_path / "sim.duckdb", (2025, 2026))
    store = tmp_path / "store"
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    m = navsnap.checkpoint(db=db, year=2026, store=store, config=cfg, run_id="nightly_2.x-7")
    assert m.snapshot_id == "nightly_2.x-7-2026"
    assert navsnap.show(store, "nightly_2.x-7@2026").snapshot_id == m.snapshot_id


def test_a_checkpoint_refuses_an_input_holding_its_store_or_database(tmp_path: Path) -> None:
    """A declared input holding the store changes with every snapshot (and one holding the
    database with every year): refused before anything is written, as a run refuses them."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "year.sql").write_text("select 1")
    cfg_path = tmp_path / "navsnap.toml"
    cfg_path.write_text('[simulation]\nemployees = 200\n[inputs]\nfiles = ["model"]\n')
    cfg = navsnap.load_config(cfg_path)
    db = tmp_path / "sim.duckdb"
    navsnap.run(cfg, db=db, years=(2025, 2025), snapshots=False)
    inside = tmp_path / "model" / "snaps"
    with pytest.raises(ConfigError, match="declared input 'model' contains the snapshot store"):
        navsnap.checkpoint(db=db, year=2025, store=inside, config=cfg)
    assert not inside.exists()
    cfg_path.write_text('[simulation]\nemployees = 200\n[inputs]\nfiles = ["."]\n')
    dot = navsnap.load_config(cfg_path)
    with pytest.raises(ConfigError, match=r"declared input '\.' contains the database"):
        navsnap.checkpoint(db=db, year=2025, store=tmp_path / "s", config=dot)
    manifest = navsnap.checkpoint(db=db, year=2025, store=tmp_path / "store", config=cfg)
    assert manifest.config.inputs.keys() == {"model"}
