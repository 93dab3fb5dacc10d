from __future__ import annotations

import math
from pathlib import Path

import pytest

from navsnap.config import config_diff, load_config
from navsnap.errors import ConfigError
from navsnap.lineage import config_block, identity


def config_hash(config) -> str:  # type: ignore[no-untyped-def]
    return str(config_block(config)["hash"])


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "navsnap.toml"
    p.write_text(text)
    return p


def test_defaults_are_documented_values() -> None:
    cfg = load_config(search_cwd=False)
    assert cfg.run.years == "2025-2029"
    assert cfg.run.year_column == "simulation_year"
    assert cfg.simulation.employees == 10_000
    assert cfg.snapshot.mode == "parquet" and cfg.snapshot.compression == "zstd"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[run]\nbogus = 1\n", "run.bogus"),
        ("[nosuch]\nx = 1\n", "nosuch"),
        ("[run]\nseed = 'abc'\n", "run.seed"),
        ("[run]\nseed = -1\n", "run.seed"),
        ("[run]\nthreads = true\n", "run.threads"),
        ("[simulation]\nemployees = 0\n", "simulation.employees"),
        ("[simulation]\nemployees = 2.5\n", "simulation.employees"),
        ("[snapshot]\nmode = 'tarball'\n", "snapshot.mode"),
        ("[snapshot]\ncompression_level = 99\n", "snapshot.compression_level"),
        ("[inputs]\nfiles = 'one.csv'\n", "inputs.files"),
        ("[checks]\nn = 3\n", "checks.n"),
        # parsed with the config, not after a run has stepped a year (hostile-input review)
        ("[retention]\nmax_size = 'lots'\n", "retention.max_size"),
        ("[retention]\nmax_size = '12 parsecs'\n", "retention.max_size"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.key == key
    assert f"'{key}'" in info.value.one_line()
    assert "\n" not in info.value.one_line()


def test_malformed_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[run\nseed=1"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_hash_covers_lineage_keys_only(tmp_path: Path) -> None:
    base = load_config(search_cwd=False)
    same = load_config(
        overrides={"run.years": "2025-2035", "run.threads": 1, "snapshot.compression": "snappy"},
        search_cwd=False,
    )
    assert config_hash(base) == config_hash(same)
    other = load_config(overrides={"run.seed": 7}, search_cwd=False)
    assert config_hash(other) != config_hash(base)
    keys, inputs = config_diff(identity(base), identity(other), {}, {})
    assert [(k.key, k.old, k.new) for k in keys] == [("run.seed", 42, 7)]
    assert inputs == []


def test_declared_inputs_enter_the_hash(tmp_path: Path) -> None:
    (tmp_path / "census.csv").write_text("id\n1\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.sql").write_text("select 1")
    cfg_path = write(tmp_path, '[inputs]\nfiles = ["census.csv", "models"]\n')
    first = load_config(cfg_path)
    h1, inputs1 = config_hash(first), first.input_hashes()
    (tmp_path / "models" / "a.sql").write_text("select 2")
    second = load_config(cfg_path)
    assert config_hash(second) != h1
    _, changed = config_diff({}, {}, inputs1, second.input_hashes())
    assert [c.path for c in changed] == ["models"]
    (tmp_path / "census.csv").unlink()
    with pytest.raises(ConfigError, match=r"census\.csv"):
        load_config(cfg_path).input_hashes()


def test_a_declared_folder_is_hashed_through_its_links_not_its_bytecode(tmp_path: Path) -> None:
    # A model's shared SQL linked into the declared folder is part of the model: its change
    # is a change (it was not seen). Python's __pycache__, rewritten whenever the step is
    # imported, is not (it made resumes fail). A link back up the tree is followed once.
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "a.sql").write_text("select 1")
    models = tmp_path / "models"
    models.mkdir()
    (models / "own.sql").write_text("select 0")
    (models / "shared").symlink_to(tmp_path / "shared", target_is_directory=True)
    (models / "loop").symlink_to(models, target_is_directory=True)
    cfg_path = write(tmp_path, '[inputs]\nfiles = ["models"]\n')
    first = load_config(cfg_path).input_hashes()
    (models / "__pycache__").mkdir()
    (models / "__pycache__" / "own.cpython-311.pyc").write_bytes(b"\x00compiled")
    assert load_config(cfg_path).input_hashes() == first
    (tmp_path / "shared" / "a.sql").write_text("select 2")
    assert load_config(cfg_path).input_hashes() != first


def test_config_file_in_cwd_is_picked_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "[run]\nseed = 9\n")
    monkeypatch.chdir(tmp_path)
    assert load_config().run.seed == 9


def test_minus_zero_is_stored_as_zero(tmp_path: Path) -> None:
    # -0.0 == 0.0 to the drift check but not to the built-in simulation's own comparison of
    # its parameters, which then failed a resume with an empty list of changed keys.
    cfg = load_config(write(tmp_path, "[simulation.workforce]\ngrowth_rate = -0.0\n"))
    assert math.copysign(1.0, cfg.simulation.workforce.growth_rate) == 1.0


@pytest.mark.parametrize(
    ("toml", "hint"),
    [
        ("[run]\nseed = 1.5\n", "whole number"),
        ("[simulation.workforce]\ngrowth_rate = 'x'\n", "a number"),
        ("[snapshot]\nenabled = 1\n", "true or false"),
        ("[run]\nstep = 5\n", "double quotes"),
    ],
)
def test_a_wrongly_typed_key_says_how_to_write_it(tmp_path: Path, toml: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, toml))
    assert caught.value.hint is not None and hint in caught.value.hint
