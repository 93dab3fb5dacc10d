"""Secrets never appear in any output, log, manifest or traceback, ``--debug`` included.

Every command of the S3 tests runs with ``--debug`` against a real S3 API server with
authentication on, once with the credentials in the URL (``s3://id:secret@bucket/prefix``)
and once in the environment; then every stdout and stderr, every file the commands left on
disk (database folder, lock and step logs, object cache) and every object in the bucket
(manifests, tags, marker, writer markers) is searched for the secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest import TOY_STEP, invoke_at
from s3server import MotoS3, running

from navsnap.config import load_config
from navsnap.store.remote import redact, split_credentials


@pytest.fixture(scope="module")
def s3() -> Iterator[MotoS3]:
    with running() as server:
        yield server


def _env(s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    env = {**s3.env, "NAVSNAP_CACHE_DIR": str(tmp_path / "cache"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
           "AWS_CONFIG_FILE": str(tmp_path / "none")}  # fmt: skip
    for k, v in env.items():
        if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET"):
            monkeypatch.setenv(k, v)


def _commands(url: str, tmp_path: Path) -> list[tuple[str, ...]]:
    db = str(tmp_path / "sim.duckdb")
    return [
        ("run", "--years", "2025-2026", "--db", db, "--store", url, "--step", TOY_STEP),
        ("list", "--store", url, "--json"),
        ("show", "{newest}", "--store", url),
        ("verify", "--store", url),
        (
            "restore",
            "--year",
            "2026",
            "--store",
            url,
            "--to",
            str(tmp_path / "r.duckdb"),
            "--db",
            db,
        ),
        ("sql", "{newest}", "SELECT count(*) AS n FROM yearly", "--store", url),
        ("tag", "{newest}", "keep", "--store", url),
        ("prune", "--keep-last", "1", "--grace-minutes", "0", "--store", url),
        ("show", "no-such-snapshot", "--store", url),  # fails: a traceback under --debug
        (
            "list",
            "--store",
            url.replace("/snaps", "/other").replace("@", "@no-such-", 1)
            if "@" in url
            else "s3://no-such-bucket-x/p",
        ),
    ]


def _run_all(url: str, tmp_path: Path, env: dict[str, str]) -> list[str]:
    outputs: list[str] = []
    newest = ""
    for args in _commands(url, tmp_path):
        argv = [a.replace("{newest}", newest) for a in args]
        res = invoke_at("--debug", *argv, cwd=tmp_path, env=env)
        outputs += [res.stdout, res.stderr]
        if args[0] == "run":
            assert res.returncode == 0, res.stderr[-3000:]
        if args[0] == "list" and res.returncode == 0:
            newest = json.loads(res.stdout)["snapshots"][-1]["snapshot_id"]
    assert any("Traceback" in o for o in outputs), "no command failed under --debug"
    return outputs


def _leaks(secret: str, outputs: list[str], tmp_path: Path, s3: MotoS3, bucket: str) -> list[str]:
    needles = {secret, quote(secret, safe="")}
    found = [f"output {i}" for i, o in enumerate(outputs) if any(n in o for n in needles)]
    for path in tmp_path.rglob("*"):
        if path.is_file() and any(n.encode() in path.read_bytes() for n in needles):
            found.append(str(path))
    client = s3.client()
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert any("manifests/" in o["Key"] for o in listed)
    for obj in listed:
        body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        if any(n.encode() in body for n in needles):
            found.append(f"s3://{bucket}/{obj['Key']}")
    return found


def test_credentials_in_the_url_never_appear(
    s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(s3, tmp_path, monkeypatch)
    bucket = s3.new_bucket()
    keys = s3.create_user(["s3:*"])
    key_id, secret = keys["AWS_ACCESS_KEY_ID"], keys["AWS_SECRET_ACCESS_KEY"]
    url = f"s3://{quote(key_id, safe='')}:{quote(secret, safe='')}@{bucket}/snaps"
    with s3.enforce_auth():  # the URL's credentials are the only ones: they are used
        outputs = _run_all(url, tmp_path, {})
    assert _leaks(secret, outputs, tmp_path, s3, bucket) == []


def test_credentials_in_the_environment_never_appear(
    s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(s3, tmp_path, monkeypatch)
    bucket = s3.new_bucket()
    keys = s3.create_user(["s3:*"])
    with s3.enforce_auth():
        outputs = _run_all(f"s3://{bucket}/snaps", tmp_path, keys)
    assert _leaks(keys["AWS_SECRET_ACCESS_KEY"], outputs, tmp_path, s3, bucket) == []


def test_a_store_url_in_the_config_is_recorded_without_credentials() -> None:
    cfg = load_config(overrides={"snapshot.store": "s3://AKIA:s3cr%2Ft@b/p"}, search_cwd=False)
    assert cfg.to_dict()["snapshot"]["store"] == "s3://b/p"


def test_split_credentials() -> None:
    assert split_credentials("s3://id:s%2Fe%40c@bucket/p/q") == ("s3://bucket/p/q", ("id", "s/e@c"))
    assert split_credentials("s3://bucket/p") == ("s3://bucket/p", None)
    assert redact("--store=s3://id:sec@b/p") == "--store=s3://b/p"
