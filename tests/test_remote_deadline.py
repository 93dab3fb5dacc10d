"""Remote stores never hang: every remote operation runs under a deadline.

The end-to-end test stops a real S3 API server (moto, in its own process) with SIGSTOP in
the middle of a run: the run must fail within the configured bound with exit 6 and one
line, and once the server continues the store verifies (nothing committed was lost).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TESTS, invoke_at, pythonpath
from s3server import ROOT_KEYS, running_process

from navsnap.errors import StoreError
from navsnap.store import RemoteBackend, open_store
from navsnap.store.deadline import DEFAULT_TIMEOUT, TIMEOUT_ENV, Deadline, Progress


class _HangingFS:
    """An fsspec-like filesystem whose operations never return until released."""

    protocol = "memory"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def cat_file(self, path: str) -> bytes:
        self.calls += 1
        self.release.wait(30)
        return b"late"

    info = cat_file


def test_default_bound_is_documented() -> None:
    doc = (TESTS.parent / "docs" / "object-storage.md").read_text()
    assert DEFAULT_TIMEOUT == 60
    assert f"`{TIMEOUT_ENV}`" in doc and "60 s" in doc and "2 minutes" in doc


def test_hung_operation_fails_at_the_deadline_and_the_next_fails_at_once() -> None:
    fs = _HangingFS()
    backend = RemoteBackend(fs, "bucket/p", timeout=0.5)
    try:
        start = time.monotonic()
        with pytest.raises(StoreError, match=r"did not answer within 0.5 s while reading x"):
            backend.read_bytes("x")
        assert 0.5 <= time.monotonic() - start < 5
        start = time.monotonic()
        with pytest.raises(StoreError, match="is not answering"):
            backend.read_bytes("y")
        assert time.monotonic() - start < 0.2
        assert fs.calls == 1, "the second operation was attempted against a dead store"
    finally:
        fs.release.set()


def test_progress_restarts_the_clock() -> None:
    deadline = Deadline(0.4, "s3://b/p")
    progress = Progress()

    def transfer() -> str:
        for _ in range(8):  # 1.2 s in all, never 0.4 s without progress
            time.sleep(0.15)
            progress.relative_update(1)
        return "done"

    assert deadline.run("writing k", transfer, progress=progress) == "done"
    with pytest.raises(StoreError, match="did not answer"):
        deadline.run("writing k", time.sleep, 2)


def test_errors_of_the_operation_pass_through() -> None:
    deadline = Deadline(5, "s3://b/p")
    with pytest.raises(FileNotFoundError):
        deadline.run("reading k", Path("/no/such/file").read_bytes)


def test_bad_timeout_setting_is_one_line_exit_6(tmp_path: Path) -> None:
    res = invoke_at("list", "--store", "memory://x/y", cwd=tmp_path, env={TIMEOUT_ENV: "soon"})
    assert res.returncode == StoreError.exit_code, res.stderr
    assert res.stderr.count("\n") == 1 and TIMEOUT_ENV in res.stderr


def test_memory_store_works_under_the_deadline() -> None:
    store = open_store("memory://deadline-test/p", timeout=5)
    store.write_bytes_atomic("state/a.json", b"{}")
    assert store.read_bytes("state/a.json") == b"{}"
    with store.backend.open_input("state/a.json") as fh:
        assert fh.read() == b"{}"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP")
def test_stopped_server_fails_the_run_within_the_bound(tmp_path: Path) -> None:
    # A small bound (the run waits all of it after the stop); a request to a live moto on a
    # loaded machine still answers well within it, and progress restarts the clock.
    timeout = 3.0
    bound = timeout + 30  # the documented bound is about one timeout; slack for a loaded CI
    with running_process() as server:
        env = {
            **ROOT_KEYS,
            "AWS_ENDPOINT_URL": server.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            "NAVSNAP_CACHE_DIR": str(tmp_path / "cache"),
            TIMEOUT_ENV: str(timeout),
            "NAVSNAP_TEST_PAUSE_YEAR": "2027",
            "NAVSNAP_TEST_PAUSE_DIR": str(tmp_path),
        }
        bucket = "stopped-" + tmp_path.name.lower().replace("_", "-")[-20:]
        server.client().create_bucket(Bucket=bucket)
        url = f"s3://{bucket}/snaps"
        db = tmp_path / "sim.duckdb"

        proc = subprocess.Popen(
            [sys.executable, "-m", "navsnap", "run", "--years", "2025-2027", "--db", str(db),
             "--store", url, "--step", "pause_pipeline:step"],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": pythonpath(TESTS), **env},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            end = time.monotonic() + 240
            client = server.client()
            while not (tmp_path / "ready").exists() or not client.list_objects_v2(
                Bucket=bucket, Prefix="snaps/manifests/"
            ).get("KeyCount"):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < end, "the run never reached 2027"
                time.sleep(0.05)
            server.pause()
            stopped = time.monotonic()
            (tmp_path / "go").touch()
            _out, err = proc.communicate(timeout=bound + 60)
            elapsed = time.monotonic() - stopped
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            server.resume()
        assert proc.returncode == StoreError.exit_code, err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("navsnap: error: "), err
        assert "did not answer" in lines[0] or "not answering" in lines[0], err
        assert elapsed < bound, f"took {elapsed:.1f} s"
        # Nothing lost: once the server answers again, the store verifies and holds what
        # was committed before the stop.
        res = invoke_at("verify", "--store", url, cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        res = invoke_at("list", "--store", url, "--json", cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stderr
        assert 2025 in [s["year"] for s in json.loads(res.stdout)["snapshots"]]
