"""Tamper-evident stores: with a store key, manifests, tags and the marker carry a keyed MAC.

A writer without the key can still recompute a manifest's unkeyed xxh3 ``integrity``; in a
signed store that is no longer enough. Also: a damaged tag is reported by ``verify`` and
named by ``restore TAG`` (signed or not).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke, tree_bytes

import navsnap
from navsnap.errors import IntegrityError, VerifyFailed
from navsnap.hashing import hash_bytes
from navsnap.manifest import canonical_json
from navsnap.store import open_store
from navsnap.store.trust import KEY_ENV, KEY_FILE_ENV, Signer

KEY = "correct-horse-battery-staple-0123456789"


def make_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, key: str | None) -> Path:
    if key is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, key)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    cfg = navsnap.load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    store = tmp_path / "store"
    navsnap.run(cfg, db=tmp_path / "sim.duckdb", years=(2025, 2026), store=str(store))
    return store


def manifests(store: Path) -> list[Path]:
    return sorted((store / "manifests").glob("*.json"))


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("navsnap: error: "), err
    assert "Traceback" not in err
    return lines[0]


def forge(path: Path, change: dict[str, object], *, keep_mac: bool) -> None:
    """What a writer without the key can do: edit, and recompute the unkeyed integrity."""
    doc = json.loads(path.read_text())
    mac = doc.pop("mac", None)
    doc.pop("integrity", None)
    doc.update(change)
    doc["integrity"] = hash_bytes(canonical_json(doc))
    if keep_mac:
        doc["mac"] = mac
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))


def test_a_signed_store_round_trips_and_never_records_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path, monkeypatch, key=KEY)
    marker = json.loads((store / "navsnap-store.json").read_text())
    assert marker["signed"] is True and marker["version"] == 2
    assert marker["mac"].startswith("hmac-sha256:")
    assert all(
        json.loads(p.read_text())["mac"].startswith("hmac-sha256:") for p in manifests(store)
    )
    code, out, err = invoke("tag", manifests(store)[-1].stem, "gold", "--store", str(store))
    assert code == 0, err
    assert "mac" in json.loads((store / "tags" / "gold.json").read_text())
    code, out, err = invoke("verify", "--store", str(store))
    assert code == 0, out + err
    target = tmp_path / "r.duckdb"
    code, out, err = invoke("restore", "gold", "--store", str(store), "--to", str(target),
                            "--db", str(tmp_path / "sim.duckdb"))  # fmt: skip
    assert code == 0, err
    assert all(KEY.encode() not in b for b in tree_bytes(tmp_path).values())
    assert open_store(store).signed


def test_a_reader_without_the_key_is_told_how_to_give_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path, monkeypatch, key=KEY)
    monkeypatch.delenv(KEY_ENV)
    for args in (("list",), ("show", manifests(store)[0].stem), ("verify",)):
        code, _out, err = invoke(*args, "--store", str(store))
        assert code == IntegrityError.exit_code, err
        line = one_line(err)
        assert "is signed" in line and KEY_ENV in line and KEY_FILE_ENV in line
    key_file = tmp_path / "store.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    code, _out, err = invoke("list", "--store", str(store))
    assert code == 0, err


def test_a_wrong_key_is_refused_at_the_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path, monkeypatch, key=KEY)
    monkeypatch.setenv(KEY_ENV, "another-key-of-enough-length")
    code, _out, err = invoke("list", "--store", str(store))
    assert code == IntegrityError.exit_code
    assert "navsnap-store.json has a wrong signature" in one_line(err)


@pytest.mark.parametrize("keep_mac", [True, False], ids=["altered", "unsigned"])
def test_a_forged_manifest_is_refused_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keep_mac: bool
) -> None:
    store = make_store(tmp_path, monkeypatch, key=KEY)
    victim = manifests(store)[-1]
    forge(victim, {"database_name": "evil"}, keep_mac=keep_mac)
    before = tree_bytes(tmp_path)
    code, _out, err = invoke("show", victim.stem, "--store", str(store))
    assert code == IntegrityError.exit_code, err
    line = one_line(err)
    assert f"manifests/{victim.name}" in line
    assert ("wrong signature" if keep_mac else "is not signed") in line
    code, _out, err = invoke("restore", victim.stem, "--store", str(store),
                             "--to", str(tmp_path / "x.duckdb"))  # fmt: skip
    assert code == IntegrityError.exit_code, err
    assert f"manifests/{victim.name}" in one_line(err)
    code, out, _err = invoke("verify", "--store", str(store), "--json")
    assert code == VerifyFailed.exit_code
    assert any(p["kind"] == "damaged-manifest" for p in json.loads(out)["problems"])
    assert tree_bytes(tmp_path).keys() >= before.keys()
    assert not (tmp_path / "x.duckdb").exists()


def test_a_signed_manifest_under_another_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path, monkeypatch, key=KEY)
    first, second = manifests(store)
    second.write_bytes(first.read_bytes())  # a valid signature, but for another file
    code, _out, err = invoke("show", second.stem, "--store", str(store))
    assert code == IntegrityError.exit_code
    assert "wrong signature" in one_line(err)


def test_an_unsigned_store_is_refused_when_a_key_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else replacing a signed store's marker by an unsigned one would switch checks off."""
    store = make_store(tmp_path, monkeypatch, key=None)
    monkeypatch.setenv(KEY_ENV, KEY)
    code, _out, err = invoke("list", "--store", str(store))
    assert code == IntegrityError.exit_code
    assert "not signed, but a store key is set" in one_line(err)


def test_a_short_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "short")
    code, _out, err = invoke("list", "--store", str(tmp_path / "s"))
    assert code == 6 and "shorter than 16 bytes" in one_line(err) and "short'" not in err


def test_the_mac_covers_name_and_content() -> None:
    signer = Signer(KEY.encode())
    doc = signer.seal("tags/a.json", {"snapshot_id": "x"})
    assert signer.open("tags/a.json", doc, what="tag") == {"snapshot_id": "x"}
    with pytest.raises(IntegrityError, match="wrong signature"):
        signer.open("tags/b.json", doc, what="tag")
    with pytest.raises(IntegrityError, match="wrong signature"):
        signer.open("tags/a.json", {**doc, "snapshot_id": "y"}, what="tag")
    with pytest.raises(IntegrityError, match="wrong signature"):
        Signer(b"x" * 32).open("tags/a.json", doc, what="tag")
    assert KEY not in repr(signer)


# ------------------------------------------------------------------ damaged tags


@pytest.mark.parametrize("signed", [False, True], ids=["plain", "signed"])
def test_a_damaged_tag_is_reported_by_verify_and_named_by_restore(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signed: bool
) -> None:
    store = make_store(tmp_path, monkeypatch, key=KEY if signed else None)
    sid = manifests(store)[-1].stem
    code, _out, err = invoke("tag", sid, "gold", "--store", str(store))
    assert code == 0, err
    tag = store / "tags" / "gold.json"
    if signed:  # well-formed, but written by someone without the key
        tag.write_text(json.dumps({"snapshot_id": manifests(store)[0].stem}))
    else:
        tag.write_text('{"snapshot_id": ')
    code, out, _err = invoke("verify", "--store", str(store), "--json")
    assert code == VerifyFailed.exit_code, out
    problems = json.loads(out)["problems"]
    assert [p["key"] for p in problems if p["kind"] == "damaged-tag"] == ["tags/gold.json"]
    before = tree_bytes(tmp_path)
    code, _out, err = invoke("restore", "gold", "--store", str(store),
                             "--to", str(tmp_path / "x.duckdb"))  # fmt: skip
    assert code == IntegrityError.exit_code, err
    line = one_line(err)
    assert "tags/gold.json" in line and "no snapshot or tag" not in line
    assert not (tmp_path / "x.duckdb").exists()
    assert {k: v for k, v in tree_bytes(tmp_path).items() if "lock" not in k} == {
        k: v for k, v in before.items() if "lock" not in k
    }


@pytest.mark.parametrize("kind", ["shell", "python"])
def test_steps_never_see_the_store_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """Shell and Python steps run without NAVSNAP_STORE_KEY and NAVSNAP_STORE_KEY_FILE; AWS
    credentials stay (a dbt step may need them); the run still signs every manifest."""
    key_file = tmp_path / "store.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-users-own-aws-secret")
    monkeypatch.setenv("ENV_DUMP_DIR", str(tmp_path))
    # The shell step dumps its environment, then writes its year (a year must leave rows).
    write_year = (
        "import duckdb, os; c = duckdb.connect(os.environ['NAVSNAP_DB']); "
        "c.execute('CREATE TABLE IF NOT EXISTS t (simulation_year INTEGER)'); "
        "c.execute('INSERT INTO t VALUES (?)', [int(os.environ['NAVSNAP_YEAR'])])"
    )
    step = (
        "shell:env > "
        + str(tmp_path / "shell-{year}.txt")
        + f" && {shlex.quote(sys.executable)} -c {shlex.quote(write_year)}"
        if kind == "shell"
        else "env_pipeline:step"
    )
    store = tmp_path / "store"
    code, _o, err = invoke("run", "--years", "2025-2026", "--step", step,
                           "--db", str(tmp_path / "sim.duckdb"), "--store", str(store))  # fmt: skip
    assert code == 0, err
    for year in (2025, 2026):
        if kind == "shell":
            text = (tmp_path / f"shell-{year}.txt").read_text()
            seen = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        else:
            seen = json.loads((tmp_path / f"python-{year}.json").read_text())
        assert KEY_ENV not in seen and KEY_FILE_ENV not in seen
        assert KEY not in json.dumps(seen) and str(key_file) not in json.dumps(seen)
        assert seen["AWS_SECRET_ACCESS_KEY"] == "the-users-own-aws-secret"
    # The key was put back for navsnap itself, and every manifest is signed with it.
    assert os.environ[KEY_ENV] == KEY and os.environ[KEY_FILE_ENV] == str(key_file)
    assert len(manifests(store)) == 2
    assert all(
        json.loads(p.read_text())["mac"].startswith("hmac-sha256:") for p in manifests(store)
    )
    code, out, err = invoke("verify", "--store", str(store))
    assert code == 0, out + err
