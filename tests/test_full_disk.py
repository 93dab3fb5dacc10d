"""A full disk: snapshot and restore on a small filesystem fail with one line and exit 13
(DiskFullError), change neither the database nor the store, and leave no temporary files.

The small filesystem is a size-limited tmpfs the test mounts (root only); elsewhere the tests
skip and say why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import TOY_STEP, invoke, invoke_at, table_fingerprints, tree_bytes

import navsnap
from navsnap.config import Config, load_config

DISK_FULL = 13


def _mount_tmpfs(path: Path, size_kib: int) -> None:
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {res.stderr.strip()}")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """``small_fs(name, KiB)``: a fresh directory that is a tmpfs of that size."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mounted: list[Path] = []

    def make(name: str, size_kib: int) -> Path:
        d = tmp_path / name
        d.mkdir()
        _mount_tmpfs(d, size_kib)
        mounted.append(d)
        return d

    yield make
    for d in reversed(mounted):
        subprocess.run(["umount", str(d)], check=False)


def one_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def files(root: Path) -> dict[str, bytes]:
    """tree_bytes without lock files (they record who last held a lock)."""
    return {
        k: v
        for k, v in tree_bytes(root).items()
        if not (k.endswith(".lock") or k.endswith(".lock.json"))
    }


def sim_config(employees: int = 300) -> Config:
    return load_config(overrides={"simulation.employees": employees}, search_cwd=False)


def sim_db(path: Path, *, employees: int = 300, years: tuple[int, int] = (2025, 2027)) -> Path:
    navsnap.run(sim_config(employees), db=path, years=years, snapshots=False)
    return path


def test_checkpoint_into_a_full_store(tmp_path: Path, small_fs: Callable[[str, int], Path]) -> None:
    db = sim_db(tmp_path / "sim.duckdb")
    store = small_fs("store", 64)
    # The store already holds a small snapshot (the toy pipeline's first year): it must
    # survive unchanged.
    toy = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    navsnap.run(toy, db=tmp_path / "toy.duckdb", years=(2025, 2025), store=str(store))
    before_store, before_db = files(store), tree_bytes(db)
    assert any(k.startswith("manifests/") for k in before_store)

    args = ("checkpoint", "--year", "2027", "--employees", "300", "--db", str(db),
            "--store", str(store))  # fmt: skip
    res = invoke_at(*args, cwd=tmp_path)

    assert res.returncode == DISK_FULL, res.stderr
    line = one_line(res)
    assert line.startswith("navsnap: error: no space left") and "free disk space" in line
    assert files(store) == before_store, "the store changed"
    assert tree_bytes(db) == before_db, "the database changed"
    assert [p for p in (store / "tmp").rglob("*") if p.is_file()] == [], "temporaries left"
    # With room again (the hint) the same checkpoint succeeds: nothing half-written is in
    # the way.
    subprocess.run(["mount", "-o", "remount,size=8m", str(store)], check=True)
    ok = invoke_at(*args, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_run_stops_on_a_full_store(tmp_path: Path, small_fs: Callable[[str, int], Path]) -> None:
    store = small_fs("store", 96)
    res = invoke_at(
        "run", "--years", "2025-2027", "--employees", "300", "--db", "sim.duckdb",
        "--store", str(store), cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == DISK_FULL, res.stderr
    assert "no space left" in one_line(res)
    leftover = [p for p in (store / "tmp").rglob("*") if p.is_file()]
    assert leftover == [], leftover
    # Whatever was committed before the disk filled verifies.
    if (store / "manifests").exists():
        assert navsnap.verify_store(store).ok


def test_restore_to_a_full_directory(tmp_path: Path, small_fs: Callable[[str, int], Path]) -> None:
    db = sim_db(tmp_path / "sim.duckdb")
    store = tmp_path / "store"
    navsnap.checkpoint(db=db, year=2027, store=store, run_id="r", config=sim_config())
    target_dir = small_fs("target", 256)
    before_store, before_db = files(store), tree_bytes(db)

    res = invoke_at(
        "restore", "r-2027", "--db", str(db), "--store", str(store),
        "--to", str(target_dir / "copy.duckdb"), cwd=tmp_path,
    )  # fmt: skip

    assert res.returncode == DISK_FULL, res.stderr
    assert "no space left" in one_line(res)
    assert files(store) == before_store and tree_bytes(db) == before_db
    assert [p.name for p in target_dir.iterdir() if not p.name.endswith((".lock", ".json"))] == []


def test_restore_in_place_on_a_full_disk(
    tmp_path: Path, small_fs: Callable[[str, int], Path]
) -> None:
    built = sim_db(tmp_path / "built.duckdb")
    store = tmp_path / "store"
    navsnap.checkpoint(db=built, year=2027, store=store, run_id="r", config=sim_config())
    size_kib = built.stat().st_size // 1024
    # Room for the live file but not for a second copy beside it.
    disk = small_fs("disk", size_kib + 512)
    db = disk / "sim.duckdb"
    shutil.copyfile(built, db)
    con = duckdb.connect(str(db))  # the live file differs in its views: a full restore
    con.execute("CREATE VIEW not_in_the_snapshot AS SELECT 1")
    con.close()
    before_db, before_store = files(disk), files(store)
    want = table_fingerprints(db)

    res = invoke_at("restore", "r-2027", "--db", str(db), "--store", str(store), cwd=tmp_path)

    assert res.returncode == DISK_FULL, res.stderr
    assert "no space left" in one_line(res)
    assert files(disk) == before_db, "the live database or its directory changed"
    assert files(store) == before_store
    assert table_fingerprints(db) == want


def test_run_when_the_database_disk_fills(
    tmp_path: Path, small_fs: Callable[[str, int], Path]
) -> None:
    """The database's own disk fills mid-run: exit 13 naming the database and the year (not
    DuckDB's "database has been invalidated", exit 5), and --resume continues once there is
    room again."""
    disk = small_fs("db", 2048)
    db, store = disk / "sim.duckdb", tmp_path / "store"
    args = ("run", "--years", "2025-2027", "--employees", "3000", "--store", str(store))
    code, _o, err = invoke(*args, "--db", str(db))

    assert code == DISK_FULL, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "no space left on the disk of database" in lines[0] and "--resume" in lines[0]
    assert "invalidated" not in err and "internal error" not in err
    assert navsnap.verify_store(store).ok
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    code, _o, err = invoke(*args, "--db", str(db), "--resume")
    assert code == 0, err
