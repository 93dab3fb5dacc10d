"""What a restore does not repeat or pay for: the live database is fingerprinted once per
resume, a delta's checkpoint skips vacuum and keeps the rows, its commit writes the file (not
a .wal), a delta opens the live database once (read-only first when it has a .wal),
``status`` does not import pyarrow or fsspec.
(Speed itself is measured by scripts/bench_restore.py, never asserted here.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import count_fingerprints, invoke_at, pythonpath, table_fingerprints

import navsnap
import navsnap.compare
from navsnap.config import Config
from navsnap.index import read_all
from navsnap.store import open_store


def _run_and_damage(
    tmp_path: Path, toy_config: Config, where: str = "simulation_year = 2026 AND person_id % 3 = 0"
) -> tuple[Path, Path, dict[str, tuple[int, str]]]:
    """A 2025-2027 run, its fingerprints at the end, then rows of ``yearly`` deleted."""
    db = tmp_path / "sim.duckdb"
    store = tmp_path / "store"
    navsnap.run(toy_config, db=db, years=(2025, 2027), store=str(store))
    want = table_fingerprints(db)
    con = duckdb.connect(str(db))
    con.execute(f"DELETE FROM yearly WHERE {where}")
    con.close()
    return db, store, want


def test_resume_of_a_damaged_year_fingerprints_the_live_database_once(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, store, want = _run_and_damage(tmp_path, toy_config)
    calls = count_fingerprints(monkeypatch, whole_tables=True)
    events: list[str] = []
    navsnap.run(
        toy_config,
        db=db,
        years=(2025, 2027),
        store=str(store),
        resume=True,
        on_event=lambda e: events.append(e.message),
    )
    assert any("restor" in e for e in events)
    assert table_fingerprints(db) == want
    manifests, _ = read_all(open_store(store))
    tables = {t.name for t in manifests[-1].tables}
    # Planned once (status's decision is the one carried out), every table once.
    assert len(calls) == len(tables) and set(calls.values()) == {1}, calls


def test_status_of_a_damaged_year_fingerprints_the_live_database_once(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, store, _ = _run_and_damage(tmp_path, toy_config)
    calls = count_fingerprints(monkeypatch, whole_tables=True)
    decision = navsnap.status(toy_config, db=db, years=(2025, 2027), store=store)
    assert decision.action == "restore" and decision.restore_strategy == "delta"
    assert calls and set(calls.values()) == {1}, calls


def test_a_delta_checkpointed_without_vacuum_holds_the_snapshot_rows(
    tmp_path: Path, toy_config: Config
) -> None:
    """A whole year deleted (its row groups emptied, what vacuum would merge) comes back by
    a delta whose checkpoint skips vacuum: the rows are the snapshot's, no .wal is left, and
    the file reopens with the same rows."""
    db, store, want = _run_and_damage(tmp_path, toy_config, "simulation_year = 2025")
    report = navsnap.restore(store=store, db=db, year=2027)
    assert report.plan.strategy == "delta"
    assert not db.with_name(db.name + ".wal").exists()
    assert table_fingerprints(db) == want
    con = duckdb.connect(str(db))
    con.execute("CHECKPOINT")  # an ordinary checkpoint afterwards changes no row either
    con.close()
    assert table_fingerprints(db) == want


def test_a_delta_commit_writes_the_file_not_a_wal(tmp_path: Path, toy_config: Config) -> None:
    """The delta's COMMIT checkpoints: killed right after it, before its CHECKPOINT, the
    process leaves no .wal, and the file alone already holds the snapshot's rows."""
    db, store, want = _run_and_damage(tmp_path, toy_config)
    code = f"import navsnap\nnavsnap.restore(store={str(store)!r}, db={str(db)!r}, year=2027)\n"
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath(),
        "NAVSNAP_FAULT": "delta-after-commit",
    }
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr  # killed at the fault point: a delta ran
    assert not db.with_name(db.name + ".wal").exists()
    assert table_fingerprints(db) == want


def test_a_delta_restore_opens_the_live_database_once(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planned and rewritten on one read-write connection, in one transaction."""
    db, store, want = _run_and_damage(tmp_path, toy_config)
    opened: list[str] = []
    real = duckdb.connect

    def counting(database: str = ":memory:", *args: Any, **kwargs: Any) -> Any:
        opened.append(str(database))
        return real(database, *args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counting)
    report = navsnap.restore(store=store, db=db, year=2027)
    monkeypatch.undo()
    assert report.plan.strategy == "delta"
    assert opened.count(str(db)) == 1, opened
    assert table_fingerprints(db) == want


def test_a_live_file_with_a_wal_is_kept_aside_as_it_was(tmp_path: Path, toy_config: Config) -> None:
    """A live file with a .wal is planned read-only: opened read-write to plan a delta, its
    .wal would be replayed into the file that the full restore then keeps aside."""
    db = tmp_path / "sim.duckdb"
    store = tmp_path / "store"
    navsnap.run(toy_config, db=db, years=(2025, 2027), store=str(store))
    code = (
        "import duckdb, os\n"
        f"con = duckdb.connect({str(db)!r})\n"
        "con.execute('CREATE TABLE extra AS SELECT 1 AS x')\n"
        "os._exit(0)\n"  # no checkpoint: the table is in the .wal only
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    wal = db.with_name(db.name + ".wal")
    assert wal.exists()
    before = db.read_bytes(), wal.read_bytes()
    report = navsnap.restore(store=store, db=db, year=2027)
    assert report.plan.strategy == "full", report.plan.reason
    kept = next(Path(p) for p in report.moved_aside if not p.endswith(".wal"))
    assert (kept.read_bytes(), Path(str(kept) + ".wal").read_bytes()) == before


def test_status_imports_neither_pyarrow_nor_fsspec(tmp_path: Path) -> None:
    (tmp_path / "navsnap.toml").write_text("[simulation]\nemployees = 50\n")
    assert invoke_at("-q", "run", "--years", "2025-2026", cwd=tmp_path).returncode == 0
    code = (
        "import sys\n"
        "from navsnap.cli import main\n"
        "try:\n"
        "    main(['status', '--years', '2025-2026'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(sorted(m for m in ('pyarrow', 'fsspec', 's3fs') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "complete" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
