"""Corruption: flipped bytes and truncation in each kind of file navsnap depends on.

* a Parquet object and a manifest in the store: ``verify`` names the damaged file and the
  snapshots it breaks; ``restore`` refuses the snapshot and names the newest older intact one
  of the same lineage; ``run --resume`` falls back to it and ends with the tables of an
  uninterrupted run;
* the live ``.duckdb`` file and its ``.wal``: they are not in the store (verify passes);
  ``status`` and ``run --resume`` see the damage, move the file aside (never delete it) and
  restore, again ending with the tables of an uninterrupted run.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TOY_STEP, fork_cli, invoke_at, table_fingerprints, tree_bytes

import navsnap
from navsnap.config import Config, load_config

YEARS = (2025, 2029)
WHERE = ("--db", "sim.duckdb", "--store", "store")


def flip(path: Path) -> None:
    """Invert 16 bytes in the middle of the file."""
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, min(mid + 16, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    """Cut the file to half its size."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE: dict[str, Callable[[Path], None]] = {"flip": flip, "truncate": truncate}


def toy() -> Config:
    return load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("corruption-golden")
    complete = root / "complete"
    complete.mkdir()
    navsnap.run(toy(), db=complete / "sim.duckdb", years=YEARS, store=str(complete / "store"))
    # A run killed right after 2027's step: its .wal holds the unsnapshotted year.
    interrupted = root / "interrupted"
    interrupted.mkdir()
    res = fork_cli(
        "run", "--years", "2025-2029", "--step", TOY_STEP, *WHERE, cwd=interrupted,
        env={"NAVSNAP_FAULT": "after-step@3"},
    )  # fmt: skip
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert (interrupted / "sim.duckdb.wal").stat().st_size > 0
    ref = root / "ref.duckdb"
    navsnap.run(toy(), db=ref, years=YEARS, snapshots=False)
    return {"complete": complete, "interrupted": interrupted, "ref": table_fingerprints(ref)}


def snapshots(store: Path) -> list[navsnap.Manifest]:
    manifests = [navsnap.show(store, s.snapshot_id) for s in navsnap.list_snapshots(store)[0]]
    return sorted(manifests, key=lambda m: m.year)


def one_line(res: object) -> str:
    stderr = res.stderr  # type: ignore[attr-defined]
    lines = [ln for ln in stderr.splitlines() if ln.startswith("navsnap: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return str(lines[0])


# --------------------------------------------------------------------------- the store


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("target", ["object", "manifest"])
def test_damaged_store_file(
    golden: dict[str, object], tmp_path: Path, target: str, damage: str
) -> None:
    cwd = tmp_path / "w"
    shutil.copytree(golden["complete"], cwd)  # type: ignore[arg-type]
    store = cwd / "store"
    chain = snapshots(store)
    newest, older = chain[-1], chain[-2]
    if target == "object":
        # The newest year's own partition: only the newest snapshot references it.
        key = newest.table("yearly").partitions[-1].object.key
        assert all(key not in {o.key for o in m.objects()} for m in chain[:-1])
    else:
        key = f"manifests/{newest.snapshot_id}.json"
    DAMAGE[damage](store / key)
    (cwd / "sim.duckdb").unlink()  # restore has to read the objects

    # verify names the file and the snapshot it breaks.
    res = invoke_at("verify", "--all", *WHERE, cwd=cwd)
    assert res.returncode == 14, res.stdout + res.stderr
    problems = [ln for ln in res.stderr.splitlines() if not ln.startswith("navsnap:")]
    assert len(problems) == 1 and key in problems[0], res.stderr
    assert problems[0].startswith("corrupt" if target == "object" else "damaged-manifest")
    assert newest.snapshot_id in problems[0] + one_line(res)

    # restore refuses it, changes nothing, and names the newest older intact snapshot.
    before = tree_bytes(cwd)
    for args in (("--year", str(newest.year)), (newest.snapshot_id,)):
        res = invoke_at("restore", *args, *WHERE, cwd=cwd)
        assert res.returncode == 8, res.stderr
        line = one_line(res)
        assert newest.snapshot_id in line
        assert f"newest older intact snapshot is {older.snapshot_id}" in line, line
        if target == "object":
            assert key in line
    assert {k: v for k, v in tree_bytes(cwd).items() if not k.endswith(".json")} == {
        k: v for k, v in before.items() if not k.endswith(".json")
    }
    assert not list(cwd.glob(".sim.duckdb.navsnap-restore-*"))

    # resume falls back to it and ends like an uninterrupted run.
    report = navsnap.run(toy(), db=cwd / "sim.duckdb", years=YEARS, store=str(store), resume=True)
    assert report.decision is not None and report.decision.snapshot is not None
    assert report.decision.snapshot.snapshot_id == older.snapshot_id
    assert [y.year for y in report.years_run] == [newest.year]
    assert any(newest.snapshot_id in s for s in report.decision.skipped)
    assert table_fingerprints(cwd / "sim.duckdb") == golden["ref"]


def test_damage_shared_by_every_snapshot(golden: dict[str, object], tmp_path: Path) -> None:
    """An object every snapshot references: no older intact snapshot; resume starts over."""
    cwd = tmp_path / "w"
    shutil.copytree(golden["complete"], cwd)  # type: ignore[arg-type]
    store = cwd / "store"
    chain = snapshots(store)
    key = chain[-1].table("people").partitions[0].object.key
    assert all(key in {o.key for o in m.objects()} for m in chain)
    flip(store / key)
    (cwd / "sim.duckdb").unlink()
    res = invoke_at("restore", "--year", "2029", *WHERE, cwd=cwd)
    assert res.returncode == 8
    assert "no older intact snapshot" in one_line(res)
    report = navsnap.run(toy(), db=cwd / "sim.duckdb", years=YEARS, store=str(store), resume=True)
    assert report.decision is not None and report.decision.action == "start"
    assert table_fingerprints(cwd / "sim.duckdb") == golden["ref"]
    # The new run wrote its own intact copy of the object; the damage is still reported.
    res = invoke_at("verify", "--all", *WHERE, cwd=cwd)
    assert res.returncode == 14 and key in res.stderr


# --------------------------------------------------------------------------- the database


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("target", ["duckdb", "wal"])
def test_damaged_database_file(
    golden: dict[str, object], tmp_path: Path, target: str, damage: str
) -> None:
    state = "complete" if target == "duckdb" else "interrupted"
    cwd = tmp_path / "w"
    shutil.copytree(golden[state], cwd)  # type: ignore[arg-type]
    path = cwd / ("sim.duckdb" if target == "duckdb" else "sim.duckdb.wal")
    DAMAGE[damage](path)
    damaged = path.read_bytes()
    store_before = tree_bytes(cwd / "store")

    # The store is not damaged: verify passes (unreferenced objects of the killed run are
    # young, so they are listed, not counted).
    res = invoke_at("verify", "--all", *WHERE, cwd=cwd)
    assert res.returncode == 0, res.stderr

    res = invoke_at("status", "--step", TOY_STEP, "--years", "2025-2029", "--json", *WHERE, cwd=cwd)
    assert res.returncode == 0, res.stderr
    decision = json.loads(res.stdout)
    assert decision["action"] in ("restore", "continue", "complete"), decision
    if decision["action"] == "restore":
        assert decision["message"].startswith("restoring"), decision

    report = navsnap.run(
        toy(), db=cwd / "sim.duckdb", years=YEARS, store=str(cwd / "store"), resume=True
    )
    assert table_fingerprints(cwd / "sim.duckdb") == golden["ref"]
    # A damaged file that had to be replaced is kept beside the new one, never deleted.
    kept = [p for p in cwd.iterdir() if ".before-restore-" in p.name]
    if report.decision is not None and report.decision.action == "restore":
        if report.decision.restore_strategy == "full":
            assert any(p.read_bytes() == damaged for p in kept), [p.name for p in kept]
    else:
        # Damage that did not touch the data (free space in the file): nothing to restore.
        assert table_fingerprints(cwd / "sim.duckdb") == golden["ref"]
    # The store's committed snapshots are untouched.
    after = tree_bytes(cwd / "store")
    assert all(after.get(k) == v for k, v in store_before.items() if k.startswith("manifests/"))
