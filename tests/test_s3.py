"""S3 stores against a real S3 API server (moto in server mode on 127.0.0.1).

navsnap reaches the server only through AWS_ENDPOINT_URL and the AWS_* keys, as it would
reach AWS or MinIO; nothing in s3fs or botocore is mocked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TOY_STEP, invoke_at, table_fingerprints
from s3server import MotoS3, free_port, running
from test_storage import StoreContract

from navsnap import api
from navsnap.errors import IntegrityError, StoreError
from navsnap.index import read_all
from navsnap.store import ObjectCache, Store, open_store, remote


@pytest.fixture(scope="session")
def s3() -> Iterator[MotoS3]:
    with running() as server:
        yield server


@pytest.fixture
def s3_env(s3: MotoS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    env = {**s3.env, "NAVSNAP_CACHE_DIR": str(tmp_path / "cache")}
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


@pytest.fixture
def bucket(s3: MotoS3, s3_env: dict[str, str]) -> str:
    return s3.new_bucket()


def toy_run(tmp_path: Path, url: str, years: str = "2025-2027") -> Path:
    db = tmp_path / "sim.duckdb"
    res = invoke_at("run", "--years", years, "--db", str(db), "--store", url, "--step", TOY_STEP,
                  cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return db


def one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("navsnap: error: "), stderr
    return lines[0]


class TestS3Store(StoreContract):
    @pytest.fixture(autouse=True)
    def _server(self, s3: MotoS3, s3_env: dict[str, str]) -> None:
        self.server = s3

    def make_store(self, tmp_path: Path) -> Store:
        return open_store(f"s3://{self.server.new_bucket()}/some/prefix")


# ------------------------------------------------------------------ end to end


def test_run_list_show_restore_through_s3(tmp_path: Path, bucket: str) -> None:
    url = f"s3://{bucket}/snaps"
    db = toy_run(tmp_path, url)
    res = invoke_at("list", "--store", url, "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    snaps = json.loads(res.stdout)["snapshots"]
    assert [s["year"] for s in snaps] == [2025, 2026, 2027]
    newest = snaps[-1]["snapshot_id"]
    res = invoke_at("show", newest, "--store", url, "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["snapshot_id"] == newest
    out = tmp_path / "restored.duckdb"
    res = invoke_at("restore", newest, "--store", url, "--to", str(out), "--db", str(db),
                  cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert table_fingerprints(out) == table_fingerprints(db)
    res = invoke_at("sql", newest, "SELECT count(*) AS n FROM yearly", "--store", url, "--json",
                  cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [{"n": 600}]


def test_second_restore_downloads_nothing(tmp_path: Path, bucket: str, s3: MotoS3) -> None:
    url = f"s3://{bucket}/snaps"
    toy_run(tmp_path, url)
    cache = ObjectCache(tmp_path / "objcache")
    store = Store(url, cache=cache)
    manifest = read_all(store)[0][-1]
    first = api.restore(store=store, snapshot=manifest.snapshot_id, to=tmp_path / "a.duckdb",
                        db=tmp_path / "a.duckdb")  # fmt: skip
    assert first.plan.strategy == "full"
    downloaded = cache.stats.downloaded_bytes
    assert downloaded == manifest.total_bytes > 0
    api.restore(store=store, snapshot=manifest.snapshot_id, to=tmp_path / "b.duckdb",
                db=tmp_path / "b.duckdb")  # fmt: skip
    assert cache.stats.downloaded_bytes == downloaded, "second restore downloaded bytes"
    # Independent check: with the objects gone from the bucket, a new process (a new
    # cache instance, which re-hashes every cached file) still restores from the cache.
    client = s3.client()
    for obj in manifest.objects():
        client.delete_object(Bucket=bucket, Key=f"snaps/{obj.key}")
    again = ObjectCache(tmp_path / "objcache")
    api.restore(store=Store(url, cache=again), snapshot=manifest.snapshot_id,
                to=tmp_path / "c.duckdb", db=tmp_path / "c.duckdb")  # fmt: skip
    assert again.stats.downloaded_bytes == 0
    assert table_fingerprints(tmp_path / "c.duckdb") == table_fingerprints(tmp_path / "a.duckdb")


def test_corrupt_object_in_s3_is_refused(tmp_path: Path, bucket: str, s3: MotoS3) -> None:
    url = f"s3://{bucket}/snaps"
    toy_run(tmp_path, url, years="2025-2025")
    store = open_store(url)
    manifest = read_all(store)[0][-1]
    victim = manifest.objects()[0]
    s3.client().put_object(Bucket=bucket, Key=f"snaps/{victim.key}", Body=b"x" * victim.size)
    target = tmp_path / "r.duckdb"
    with pytest.raises(IntegrityError, match="corrupt"):
        api.restore(store=store, snapshot=manifest.snapshot_id, to=target, db=target)
    assert not target.exists()
    cache_dir = Path(str(store.cache.root)) if store.cache else None
    assert cache_dir is not None
    assert not ObjectCache(cache_dir).path_for(victim.key).exists()
    assert not list((cache_dir / "tmp").iterdir())


def test_sql_and_attach_over_a_damaged_s3_snapshot(tmp_path: Path, bucket: str, s3: MotoS3) -> None:
    """Over S3 too, a missing object (found by the HEAD requests made before the views) and
    one of the right size that is not Parquet (refused by DuckDB, then hashed) are the
    snapshot's damage, exit 8 naming the object, not an internal error."""
    url = f"s3://{bucket}/snaps"
    toy_run(tmp_path, url, years="2025-2025")
    store = open_store(url)
    manifest = read_all(store)[0][-1]
    sid = manifest.snapshot_id
    (people,) = [t for t in manifest.tables if t.name == "people"]
    victim = people.partitions[0].object
    s3.client().put_object(Bucket=bucket, Key=f"snaps/{victim.key}", Body=b"x" * victim.size)
    with pytest.raises(IntegrityError, match=f"object {victim.key} of snapshot {sid} is corrupt"):
        api.sql(store, sid, "SELECT count(*) FROM people")
    s3.client().delete_object(Bucket=bucket, Key=f"snaps/{victim.key}")
    res = invoke_at("sql", sid, "SELECT 1", "--store", url, cwd=tmp_path)
    assert res.returncode == IntegrityError.exit_code, res.stderr
    assert f"object {victim.key} of snapshot {sid} is missing" in res.stderr
    out = tmp_path / "a.duckdb"
    res = invoke_at("attach", sid, "--out", str(out), "--store", url, cwd=tmp_path)
    assert res.returncode == IntegrityError.exit_code, res.stderr
    assert not out.exists()


# ------------------------------------------------------------------ bad input


def test_unreachable_endpoint(
    tmp_path: Path, s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One attempt each for botocore and s3fs: the refused connection is translated the same
    # after one attempt as after the default retries and their backoff (~4 s of sleeping).
    one_try = {**remote._S3_DEFAULTS["config_kwargs"], "retries": {"max_attempts": 1}}
    monkeypatch.setitem(remote._S3_DEFAULTS, "config_kwargs", one_try)
    monkeypatch.setattr(remote, "_S3FS_RETRIES", 1)
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    res = invoke_at("list", "--store", "s3://some-bucket/p", cwd=tmp_path, env=env)
    assert res.returncode == StoreError.exit_code
    line = one_line_error(res.stderr)
    assert "cannot reach" in line and s3_env["AWS_SECRET_ACCESS_KEY"] not in line


def test_missing_bucket(tmp_path: Path, s3_env: dict[str, str]) -> None:
    res = invoke_at("list", "--store", "s3://no-such-bucket-here/p", cwd=tmp_path)
    assert res.returncode == StoreError.exit_code
    assert "does not exist" in one_line_error(res.stderr)
    res = invoke_at("run", "--years", "2025-2025", "--db", str(tmp_path / "x.duckdb"),
                  "--store", "s3://no-such-bucket-here/p", "--step", TOY_STEP,
                  cwd=tmp_path)  # fmt: skip
    assert res.returncode == StoreError.exit_code
    assert "does not exist" in one_line_error(res.stderr)


def test_wrong_credentials(tmp_path: Path, bucket: str, s3: MotoS3) -> None:
    secret = "WRONG-secret-value-1234567890"
    env = {"AWS_ACCESS_KEY_ID": "AKIANOTAREALKEY00000", "AWS_SECRET_ACCESS_KEY": secret}
    with s3.enforce_auth():
        res = invoke_at("list", "--store", f"s3://{bucket}/p", cwd=tmp_path, env=env)
    assert res.returncode == StoreError.exit_code
    line = one_line_error(res.stderr)
    assert "credentials" in line and secret not in res.stderr + res.stdout


def test_write_refused_leaves_no_manifest(tmp_path: Path, bucket: str, s3: MotoS3) -> None:
    """Everything is allowed but uploading objects. Year 2025 needs no upload (its
    partitions are already stored), so it commits; 2026 fails at its first object upload,
    and no manifest of 2026 exists. Every committed manifest is complete."""
    url = f"s3://{bucket}/snaps"
    (tmp_path / "first").mkdir()
    toy_run(tmp_path / "first", url, years="2025-2025")
    before = sorted(m.snapshot_id for m in read_all(open_store(url))[0])
    assert len(before) == 1
    keys = s3.create_user(
        ["s3:GetObject", "s3:ListBucket", "s3:DeleteObject"],
        extra=[
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [
                    f"arn:aws:s3:::{bucket}/snaps/locks/*",
                    f"arn:aws:s3:::{bucket}/snaps/manifests/*",
                    # the run's up-front write probe, so the refusal comes at an object
                    f"arn:aws:s3:::{bucket}/snaps/tmp/*",
                ],
            }
        ],
    )
    with s3.enforce_auth():
        db = tmp_path / "sim.duckdb"
        res = invoke_at("run", "--years", "2025-2026", "--db", str(db), "--store", url,
                      "--step", TOY_STEP, "--seed", "7", cwd=tmp_path, env=keys)  # fmt: skip
    assert res.returncode == StoreError.exit_code, res.stderr
    line = one_line_error(res.stderr)
    assert "access denied" in line and "objects/" in line
    store = open_store(url)
    manifests = read_all(store)[0]
    assert set(before) < {m.snapshot_id for m in manifests}
    assert [m.year for m in manifests] == [2025, 2025]
    assert all(store.exists(o.key) for m in manifests for o in m.objects())


def test_refused_delete_fails_loudly(tmp_path: Path, bucket: str, s3: MotoS3) -> None:
    url = f"s3://{bucket}/snaps"
    toy_run(tmp_path, url, years="2025-2026")
    keys = s3.create_user(["s3:GetObject", "s3:ListBucket", "s3:PutObject"])
    with s3.enforce_auth():
        with pytest.MonkeyPatch.context() as mp:
            for k, v in keys.items():
                mp.setenv(k, v)
            store = open_store(url)
            with pytest.raises(StoreError, match="access denied"):
                store.delete("manifests/" + read_all(store)[0][0].snapshot_id + ".json")
        res = invoke_at("prune", "--keep-last", "1", "--grace-minutes", "0", "--store", url,
                      cwd=tmp_path, env=keys)  # fmt: skip
    assert res.returncode == StoreError.exit_code, res.stdout + res.stderr
    assert "access denied" in one_line_error(res.stderr)
    assert len(read_all(open_store(url))[0]) == 2


# ------------------------------------------------------------------ many writers, one bucket

#: A pruner that collects garbage (no retention policy, no grace period) over and over while
#: the writers run, then once more after they finished (``stop`` exists).
PRUNER = """
import sys, time, pathlib
from navsnap import api
from navsnap.errors import LockHeld
url, stop = sys.argv[1], pathlib.Path(sys.argv[2])
passes = removed = 0
while True:
    last = stop.exists()
    try:
        report = api.prune(url, grace_minutes=0, wait_lock=30)
        passes += 1
        removed += len(report.removed_objects)
    except LockHeld:
        pass
    if last:
        break
    time.sleep(0.05)
print(passes, removed)
"""


def test_many_writers_and_a_pruner_share_one_bucket(tmp_path: Path, bucket: str) -> None:
    """Three machines (processes with their own caches and databases) write into one bucket
    while a fourth prunes: nothing committed is lost, no referenced object is deleted, and
    each database restores to its own data. Two of them write the same rows (their objects
    are shared); the third writes other tables."""
    import os
    import subprocess
    import sys

    from conftest import TESTS, pythonpath

    url = f"s3://{bucket}/shared"
    store = open_store(url)
    store.ensure_writable()
    orphan = "objects/ab/" + "ab" * 16 + ".parquet"  # a leftover the pruner must remove
    store.write_bytes_atomic(orphan, b"not referenced")
    steps = {"a": TOY_STEP, "b": TOY_STEP, "c": "hostile_pipeline:step"}
    env = {**os.environ, "PYTHONPATH": pythonpath(TESTS)}
    stop = tmp_path / "stop"
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    pruner = subprocess.Popen([sys.executable, "-c", PRUNER, url, str(stop)], env=env, **pipes)
    writers = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "navsnap",
                "run",
                "--years",
                "2025-2026",
                "--json",
                "--db",
                str(tmp_path / f"{name}.duckdb"),
                "--store",
                url,
                "--step",
                step,
            ],
            env={**env, "NAVSNAP_CACHE_DIR": str(tmp_path / f"cache-{name}")},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, step in steps.items()
    }
    try:
        done = {name: p.communicate(timeout=120) for name, p in writers.items()}
    finally:
        stop.write_text("")
        pruned = pruner.communicate(timeout=120)
    for name, p in writers.items():
        assert p.returncode == 0, (name, done[name][1])
    assert pruner.returncode == 0, pruned[1]
    passes = int(pruned[0].split()[0])
    assert passes >= 2

    manifests, broken = read_all(store)
    assert broken == []
    runs = {name: json.loads(out)["run_id"] for name, (out, _) in done.items()}
    for name, run in runs.items():
        mine = sorted(m.year for m in manifests if m.run_id == run)
        assert mine == [2025, 2026], (name, mine)
        assert all(m.database_name == name for m in manifests if m.run_id == run)
    assert all(store.exists(o.key) for m in manifests for o in m.objects())
    assert not store.exists(orphan), "the last prune, with no writer left, removes it"
    assert api.verify(url).ok

    for name, run in runs.items():
        out = tmp_path / f"restored-{name}.duckdb"
        report = api.restore(store=url, snapshot=f"{run}-2026", db=tmp_path / f"{name}.duckdb",
                             to=out)  # fmt: skip
        assert report is not None
        assert table_fingerprints(out) == table_fingerprints(tmp_path / f"{name}.duckdb")

    # a manifest is created, never overwritten: a second PUT of the same id is refused by
    # the server (If-None-Match: *) and the first one stays
    newest = manifests[-1]
    key = f"manifests/{newest.snapshot_id}.json"
    first = store.read_bytes(key)
    with pytest.raises(FileExistsError):
        store.write_manifest(newest)
    with pytest.raises(FileExistsError):
        store.write_bytes_atomic(key, b"{}")
    assert store.read_bytes(key) == first


def test_hot_tier_through_s3(tmp_path: Path, bucket: str) -> None:
    """A run with --hot 2 into S3: the copies are stored compressed, the latest K restore
    from their copy (through the local cache), the tables equal the Parquet path's."""
    url = f"s3://{bucket}/hot"
    db = tmp_path / "sim.duckdb"
    res = invoke_at("run", "--years", "2025-2027", "--db", str(db), "--store", url, "--step",
                    TOY_STEP, "--hot", "2", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    manifests = {m.year: m for m in read_all(open_store(url))[0]}
    assert all(m.hot is not None and m.hot.compression == "zstd" for m in manifests.values())
    snaps = api.list_snapshots(url).snapshots
    assert [s.hot_bytes > 0 for s in snaps] == [False, True, True]
    res = invoke_at("restore", "--year", "2027", "--store", url, "--db", str(db), "--to",
                    "hot.duckdb", "--json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["source"] == "hot"
    res = invoke_at("restore", "--year", "2025", "--store", url, "--db", str(db), "--to",
                    "old.duckdb", "--json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    # 2025's copy is released but still stored (prune's grace): it is used while it lasts.
    assert json.loads(res.stdout)["source"] == "hot"
    assert table_fingerprints(tmp_path / "hot.duckdb") == table_fingerprints(db)
    # A copy gone from the bucket (and from no cache): the Parquet path, which says why.
    hot = manifests[2026].hot
    assert hot is not None
    open_store(url).delete(hot.object.key)
    res = invoke_at("restore", "--year", "2026", "--store", url, "--db", str(db), "--to",
                    "cold.duckdb", "--json", cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["source"] == "parquet" and "missing" in out["hot_fallback"], out
