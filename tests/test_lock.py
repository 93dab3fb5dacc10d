"""Locks: one writer per database, one pruner per store, stale holders taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import TESTS, invoke_at, pythonpath

from navsnap.errors import DatabaseError, LockHeld
from navsnap.lock import (
    LockInfo,
    db_lock,
    lock_path_for_db,
    prune_lock,
    running_pruner,
    stale_reason,
    store_writer,
    store_writers,
)
from navsnap.store import open_store

SLOW_STEP = """
import time
import toy_pipeline

def step(con, year, config):
    toy_pipeline.step(con, year, config)
    time.sleep(float(__import__("os").environ.get("SLOW_SECONDS", "3")))
"""


def start_slow_run(tmp_path: Path, seconds: float) -> subprocess.Popen[str]:
    (tmp_path / "slow_step.py").write_text(SLOW_STEP)
    env = {
        **os.environ,
        "PYTHONPATH": pythonpath(TESTS, tmp_path),
        "SLOW_SECONDS": str(seconds),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "navsnap", "run", "--years", "2025", "--step", "slow_step:step"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    info = lock_path_for_db(tmp_path / "simulation.duckdb").with_name(
        "simulation.duckdb.navsnap.lock.json"
    )
    deadline = time.monotonic() + 30
    while not (info.exists() and (tmp_path / "simulation.duckdb").exists()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never took its lock"
        time.sleep(0.05)
    return proc


def test_second_run_on_the_same_database_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = start_slow_run(tmp_path, 3)
    try:
        second = invoke_at("run", "--years", "2025", "--step", "toy_pipeline:step", cwd=tmp_path)
        assert second.returncode == 11, second.stderr
        assert f"pid {first.pid} on {socket.gethostname()}" in second.stderr
        assert "navsnap run" in second.stderr and "--wait-lock" in second.stderr
    finally:
        _out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err


def test_wait_lock_waits_for_the_holder(tmp_path: Path) -> None:
    first = start_slow_run(tmp_path, 1.5)
    started = time.monotonic()
    res = invoke_at("checkpoint", "--year", "2025", "--wait-lock", "30", cwd=tmp_path)
    first.communicate(timeout=60)
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - started > 0.5


def test_holder_killed_with_sigkill_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    first = start_slow_run(tmp_path, 60)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=30)
    res = invoke_at(
        "run", "--years", "2025", "--step", "toy_pipeline:step", "--force-restart", cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    assert "warning: took over a stale lock" in res.stderr
    assert f"pid {first.pid}" in res.stderr and "process gone" in res.stderr


def test_one_pruner_per_store(tmp_path: Path) -> None:
    invoke_at("run", "--years", "2025", "--step", "toy_pipeline:step", cwd=tmp_path)
    store = open_store(tmp_path / "snapshots")
    with prune_lock(store) as me:
        assert running_pruner(store) == me
        res = invoke_at("prune", cwd=tmp_path)
        assert res.returncode == 11
        assert f"pid {os.getpid()}" in res.stderr
        # a checkpoint waits for the pruner, then gives up naming it
        with (
            pytest.raises(LockHeld, match="being pruned"),
            store_writer(store, purpose="test", wait=0.2),
        ):
            pass
    assert running_pruner(store) is None
    assert invoke_at("prune", cwd=tmp_path).returncode == 0


def test_stale_writer_marker_is_ignored_and_removed(tmp_path: Path) -> None:
    invoke_at("run", "--years", "2025", "--step", "toy_pipeline:step", cwd=tmp_path)
    store = open_store(tmp_path / "snapshots")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    marker = {
        "pid": int(dead),
        "host": socket.gethostname(),
        "started": "2026-01-01T00:00:00+00:00",
        "purpose": "crashed checkpoint",
    }
    store.write_bytes_atomic("locks/writers/dead.json", json.dumps(marker).encode())
    [w] = store_writers(store)
    assert w.stale == "process gone"
    res = invoke_at("prune", "--grace-minutes", "0", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "stale checkpoint marker" in res.stderr
    assert store_writers(store) == []


def test_remote_prune_lock_has_a_ttl(tmp_path: Path) -> None:
    store = open_store(f"memory://navsnap-lock-test-{os.getpid()}")
    store.ensure_writable()
    warnings: list[str] = []
    with prune_lock(store) as me:
        with pytest.raises(LockHeld, match=f"pid {me.pid}"), prune_lock(store):
            pass
        # a live holder on this host is never stale, whatever the TTL
        with pytest.raises(LockHeld), prune_lock(store, ttl=0):
            pass
    # a holder on another host counts as stale once older than the TTL, and is taken over
    other = {"pid": 1, "host": "other-host", "started": "2000-01-01T00:00:00+00:00",
             "purpose": "navsnap prune"}  # fmt: skip
    store.write_bytes_atomic("locks/prune.json", json.dumps(other).encode(), overwrite=True)
    with pytest.raises(LockHeld, match="other-host"), prune_lock(store, ttl=10**12):
        pass
    with prune_lock(store, ttl=60, warnings=warnings):
        assert running_pruner(store, ttl=3600) is not None
    assert any("took over a stale prune lock" in w for w in warnings)
    assert not store.exists("locks/prune.json")


def test_stale_reason() -> None:
    me = LockInfo(os.getpid(), socket.gethostname(), "2999-01-01T00:00:00+00:00", "x")
    assert stale_reason(me) is None
    old = LockInfo(os.getpid(), "other-host", "2000-01-01T00:00:00+00:00", "x")
    assert stale_reason(old, ttl=60) is not None and "TTL" in str(stale_reason(old, ttl=60))


def _holder(host: str, pid: int, started: str) -> bytes:
    info = {"pid": pid, "host": host, "started": started, "purpose": "navsnap prune"}
    return json.dumps(info).encode()


def test_unlock_removes_only_what_the_takeover_rule_allows(tmp_path: Path) -> None:
    """``navsnap unlock``: stale locks go; a live one of another host only with --force;
    a live process on this host never; --dry-run removes nothing."""
    from conftest import invoke

    url = f"memory://navsnap-unlock-{os.getpid()}-{tmp_path.name}"
    store = open_store(url)
    store.ensure_writable()
    now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
    here = socket.gethostname()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    store.write_bytes_atomic("locks/prune.json", _holder("other-host", 7, now))
    store.write_bytes_atomic("locks/writers/a.json", _holder(here, int(dead.stdout), now))
    store.write_bytes_atomic("locks/writers/b.json", _holder(here, os.getpid(), now))
    store.write_bytes_atomic("locks/writers/c.json", _holder("gone", 9, "2000-01-01T00:00:00"))

    code, out, err = invoke("unlock", "--store", url, "--dry-run")
    assert code == LockHeld.exit_code and len(err.splitlines()) == 1
    assert "would remove writer lock locks/writers/a.json" in out
    assert all(store.exists(k) for k in ("locks/prune.json", "locks/writers/a.json"))

    code, out, err = invoke("unlock", "--store", url)
    assert code == LockHeld.exit_code, err
    assert "2 live lock(s) kept" in err and "--force" in err
    assert not store.exists("locks/writers/a.json")  # process gone on this host
    assert not store.exists("locks/writers/c.json")  # older than the TTL
    assert store.exists("locks/prune.json") and store.exists("locks/writers/b.json")

    code, out, err = invoke("unlock", "--store", url, "--force")
    assert code == LockHeld.exit_code and "running on this host" in err
    assert not store.exists("locks/prune.json")  # forced: the operator says it is gone
    assert store.exists("locks/writers/b.json")  # this process: never

    store.delete("locks/writers/b.json")
    code, out, _ = invoke("--json", "unlock", "--store", url)
    assert code == 0 and json.loads(out)["locks"] == []


def test_unlock_local_store_says_the_kernel_holds_its_lock(tmp_path: Path) -> None:
    from conftest import invoke

    store = open_store(tmp_path / "snaps")
    store.ensure_writable()
    code, out, err = invoke("unlock", "--store", str(tmp_path / "snaps"))
    assert code == 0, err
    assert "released by the kernel" in out and "no locks held" in out


def test_an_owner_file_that_cannot_be_written_is_a_one_line_database_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock file exists (an earlier run left it) but its owner file cannot be written,
    as in a directory made read-only since: an error naming the file, not an internal one."""
    db = tmp_path / "sim.duckdb"
    lock_file = lock_path_for_db(db)
    lock_file.touch()

    def refused(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refused)  # what navsnap.lock calls
    with (
        pytest.raises(DatabaseError, match="cannot write the lock owner file") as exc,
        db_lock(db, purpose="test"),
    ):
        pass
    assert "writable" in exc.value.one_line()


@pytest.mark.parametrize("kind", ["fifo", "symlink", "huge"])
def test_a_lock_owner_file_that_is_no_small_regular_file_is_not_read(
    tmp_path: Path, kind: str
) -> None:
    """A FIFO at ``locks/prune.lock.json`` made ``prune`` block forever reading it. Taking the
    lock reads the owner file like any small state file (never blocking, regular files only,
    size-capped) and replaces it by its own. In a child process: a read that blocks is a
    timeout here, not a hung suite."""
    lock = tmp_path / "prune.lock"
    info = tmp_path / "prune.lock.json"
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "x"}))
    if kind == "fifo":
        os.mkfifo(info)
    elif kind == "symlink":
        info.symlink_to(outside)
    else:
        info.write_text(json.dumps({"pid": 1, "host": "h", "started": "x", "pad": "x" * 100_000}))
    code = (
        "import sys; from pathlib import Path; from navsnap.lock import hold_lock, _read_info\n"
        "assert _read_info(Path(sys.argv[2])) is None\n"
        "with hold_lock(Path(sys.argv[1]), purpose='test'): pass\n"
    )
    env = {**os.environ, "PYTHONPATH": pythonpath(TESTS)}
    r = subprocess.run(
        [sys.executable, "-c", code, str(lock), str(info)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(outside.read_text())["host"] == "elsewhere"  # a symlink is not followed
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_a_failed_run_leaves_only_the_empty_lock_file_which_the_next_run_takes(
    tmp_path: Path,
) -> None:
    # docs/maintenance.md: lock files stay (deleting one a waiter holds open would let a
    # third process lock a new file of the same name); empty, and taken again as is.
    args = ("run", "--years", "2025-2026", "--step", "toy_pipeline:step", "--db", "sim.duckdb")
    bad = invoke_at(*args, "--store", "/proc/no/store", cwd=tmp_path)
    assert bad.returncode == 6, bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sim.duckdb.navsnap.lock"]
    assert (tmp_path / "sim.duckdb.navsnap.lock").stat().st_size == 0
    good = invoke_at(*args, "--store", "store", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
