"""Object keys and object files are checked before anything opens them.

A crafted store: manifests whose object keys climb out of ``objects/`` (``..``, absolute
paths, other folders, a key that does not name its recorded hash), recomputing the unkeyed
integrity as any writer can; and a FIFO or an outside symlink in place of an object. Every
reading command refuses with exit 8 naming the field or the file, and none hangs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke_at

import navsnap
from navsnap.errors import IntegrityError, VerifyFailed
from navsnap.hashing import hash_bytes
from navsnap.manifest import canonical_json


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    cfg = navsnap.load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    navsnap.run(cfg, db=root / "sim.duckdb", years=(2025, 2025), store=str(root / "store"))
    return root


@pytest.fixture
def work(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "w")
    return tmp_path / "w"


def the_manifest(store: Path) -> Path:
    (path,) = (store / "manifests").glob("*.json")
    return path


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("navsnap: error: "), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    return lines[0]


HOSTILE_KEYS = {
    "dotdot": "objects/../../outside.parquet",
    "absolute": "/etc/passwd",
    "other-folder": "manifests/{h}.json",
    "wrong-fan-out": "objects/zz/{h}.parquet",
    "another-hash": "objects/00/00000000000000000000000000000000.parquet",
}


@pytest.mark.parametrize("template", list(HOSTILE_KEYS.values()), ids=list(HOSTILE_KEYS))
def test_a_hostile_object_key_is_refused_naming_the_field(work: Path, template: str) -> None:
    store = work / "store"
    path = the_manifest(store)
    doc = json.loads(path.read_text())
    obj = doc["tables"][0]["partitions"][0]["object"]
    obj["key"] = template.format(h=obj["xxh3"])
    doc.pop("integrity")
    doc["integrity"] = hash_bytes(canonical_json(doc))  # what any writer can recompute
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    sid = path.stem
    for args in (
        ("show", sid),
        ("restore", sid, "--to", str(work / "r.duckdb"), "--db", str(work / "sim.duckdb")),
        ("sql", sid, "SELECT 1"),
    ):
        res = invoke_at(*args, "--store", str(store), cwd=work)
        assert res.returncode == IntegrityError.exit_code, (args, res.stderr)
        line = one_line(res.stderr)
        assert "tables[0].partitions[0].object.key" in line, line
    assert not (work / "r.duckdb").exists()
    res = invoke_at("verify", "--store", str(store), "--json", cwd=work)
    assert res.returncode == VerifyFailed.exit_code, res.stderr
    kinds = {p["kind"] for p in json.loads(res.stdout)["problems"]}
    assert "damaged-manifest" in kinds


def _an_object(store: Path) -> Path:
    doc = json.loads(the_manifest(store).read_text())
    key: str = doc["tables"][0]["partitions"][0]["object"]["key"]
    return store / key


def test_a_fifo_in_place_of_an_object_hangs_nothing(work: Path) -> None:
    store = work / "store"
    victim = _an_object(store)
    victim.unlink()
    os.mkfifo(victim)
    sid = the_manifest(store).stem
    res = invoke_at("verify", "--store", str(store), "--json", cwd=work)
    assert res.returncode == VerifyFailed.exit_code, res.stderr
    assert victim.name in res.stdout
    res = invoke_at("restore", sid, "--store", str(store), "--to", str(work / "r.duckdb"),
                  cwd=work)  # fmt: skip
    assert res.returncode == IntegrityError.exit_code, res.stderr
    assert "not a regular file" in one_line(res.stderr)
    assert not (work / "r.duckdb").exists()
    res = invoke_at("sql", sid, "SELECT count(*) FROM yearly", "--store", str(store),
                  cwd=work)  # fmt: skip
    assert res.returncode == IntegrityError.exit_code, res.stderr


def test_a_symlink_out_of_the_store_is_not_followed(work: Path) -> None:
    store = work / "store"
    victim = _an_object(store)
    outside = work / "outside.parquet"
    shutil.copyfile(victim, outside)  # the very bytes: only the escape can give it away
    victim.unlink()
    victim.symlink_to(outside)
    sid = the_manifest(store).stem
    res = invoke_at("restore", sid, "--store", str(store), "--to", str(work / "r.duckdb"),
                  cwd=work)  # fmt: skip
    assert res.returncode == IntegrityError.exit_code, res.stderr
    assert "leading outside the store" in one_line(res.stderr)
    assert not (work / "r.duckdb").exists()
