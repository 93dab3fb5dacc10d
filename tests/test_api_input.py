"""The Python API refuses values the CLI's option types would have refused, with navsnap's
own errors and before anything is written (the CLI cannot reach these: click checks them)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from conftest import TOY_STEP

import navsnap
from navsnap.config import load_config
from navsnap.retention import RetentionPolicy
from navsnap.store import open_store


@pytest.mark.parametrize(
    "kwargs",
    [
        {"keep_last": -1},
        {"keep_runs": -1},
        {"keep_runs": 1.5},
        {"keep_last": True},
        {"keep_within": -1.0},
        {"keep_within": float("nan")},
        {"max_size": -5},
        {"keep_years": [2025]},
        {"keep_years": ("2025",)},
    ],
)
def test_a_retention_policy_that_would_delete_by_mistake_is_refused(
    kwargs: dict[str, object],
) -> None:
    # keep_runs=-1, read as "keep everything", deleted 6 of 9 snapshots.
    with pytest.raises(navsnap.UsageError, match="retention"):
        RetentionPolicy(**kwargs)  # type: ignore[arg-type]


def test_retention_zero_and_none_still_turn_rules_off() -> None:
    assert not RetentionPolicy(keep_last=0, keep_within=None, max_size=None).active
    assert RetentionPolicy(keep_within=0.5, max_size=0).active


@pytest.mark.parametrize("key", [12345, "abc", ["k"]])
def test_a_store_key_that_is_not_bytes_is_refused(tmp_path: Path, key: object) -> None:
    # bytes(12345) is 12,345 zero bytes: a guessable key that made a "signed" store.
    with pytest.raises(navsnap.UsageError, match="store key must be bytes"):
        open_store(tmp_path / "store", key=key)  # type: ignore[arg-type]
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("mode", ["zip", "FILE", ""])
def test_checkpoint_refuses_an_unknown_mode_before_writing(tmp_path: Path, mode: str) -> None:
    # mode="zip" committed a manifest every reader then refused (verify exit 14).
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    db = tmp_path / "sim.duckdb"
    navsnap.run(cfg, db=db, years=(2025, 2025), snapshots=False)
    with pytest.raises(navsnap.UsageError, match="snapshot mode"):
        navsnap.checkpoint(db=db, year=2025, store=tmp_path / "store", config=cfg, mode=mode)
    assert not list((tmp_path / "store").glob("manifests/*"))


@pytest.mark.parametrize("spec", ["shell:", "python:", "python:nomodule"])
def test_a_malformed_step_says_how_to_write_one(spec: str) -> None:

    from navsnap.steps import make_step

    with pytest.raises(navsnap.ConfigError) as caught:
        step: Any = make_step(spec)  # shell: refused here; a python step when it resolves
        step.resolve()
    assert caught.value.hint and "e.g." in caught.value.hint


@pytest.fixture(scope="module")
def small_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("api")
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    navsnap.run(cfg, db=root / "sim.duckdb", years=(2025, 2026), store=str(root / "store"))
    return root / "sim.duckdb", root / "store"


@pytest.mark.parametrize(
    "call",
    [
        lambda db, st: navsnap.restore(store=st, db=db, year="2026"),  # type: ignore[arg-type]
        lambda db, st: navsnap.restore(store=st, db=db, year=2026, tables="yearly"),  # type: ignore[arg-type]
        lambda db, st: navsnap.restore(store=st, db=db, year=2026, tables=[None]),  # type: ignore[list-item]
        lambda db, st: navsnap.restore(store=st, db=db, snapshot=2026),  # type: ignore[arg-type]
        lambda db, st: navsnap.show(st, year="2026"),  # type: ignore[arg-type]
        lambda db, st: navsnap.show(st, 2026),  # type: ignore[arg-type]
        lambda db, st: navsnap.list_snapshots(st, year="2026"),  # type: ignore[arg-type]
        lambda db, st: navsnap.checkpoint(db=db, year="2026", store=st),  # type: ignore[arg-type]
        lambda db, st: navsnap.status(load_config(search_cwd=False), db=db, years=2025),  # type: ignore[arg-type]
        lambda db, st: navsnap.status(
            load_config(search_cwd=False),
            db=db,
            years=(2025, 2026, 2027),  # type: ignore[arg-type]
        ),
    ],
)
def test_a_wrongly_typed_argument_is_a_usage_error_not_a_wrong_answer(
    small_store: tuple[Path, Path], call: Any
) -> None:
    # year="2026" answered "no snapshot for year 2026" although one exists; tables="yearly"
    # restored tables "y", "e", "a", ...; a 3-tuple of years was a raw ValueError.
    db, st = small_store
    before = db.read_bytes()
    with pytest.raises(navsnap.UsageError):
        call(db, st)
    assert db.read_bytes() == before


@pytest.mark.parametrize("store", [None, 12345, b"snapshots"])
@pytest.mark.parametrize(
    "call",
    [
        "list_snapshots",
        "show",
        "info",
        "verify_store",
        "prune",
        "diff_snapshots",
        "tag",
        "untag",
        "unlock",
        "sql",
        "attach",
    ],
)
def test_a_store_that_is_no_path_or_url_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, store: object
) -> None:
    """Every entry point that takes a store refuses None, a number or bytes with navsnap's
    own error, not a raw TypeError from os.fspath (the last note's leftover of F8)."""
    monkeypatch.chdir(tmp_path)
    f = getattr(navsnap, call)
    required = {
        name: "x"
        for name, p in inspect.signature(f).parameters.items()
        if p.default is inspect.Parameter.empty and name != "store"
    }
    with pytest.raises(navsnap.UsageError, match="a store must be a path or URL"):
        f(store=store, **required)
    assert list(tmp_path.iterdir()) == []
