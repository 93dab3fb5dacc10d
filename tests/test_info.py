"""navsnap info and the DAMAGED mark of list: what a store holds per database, from its
manifests and verify's record, checked against the files on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import invoke

from navsnap.config import Config
from navsnap.runner import run


def info(store: Path) -> dict[str, Any]:
    code, out, err = invoke("info", "--store", str(store), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


def test_info_per_database_bytes_dedup_and_verify(tmp_path: Path, toy_config: Config) -> None:
    store = tmp_path / "store"
    run(toy_config, db=tmp_path / "a.duckdb", years=(2025, 2027), store=str(store))
    run(
        toy_config,
        db=tmp_path / "a.duckdb",
        years=(2025, 2026),
        store=str(store),
        force_restart=True,
    )
    run(toy_config, db=tmp_path / "b.duckdb", years=(2025, 2025), store=str(store))

    data = info(store)
    on_disk = sum(p.stat().st_size for p in (store / "objects").rglob("*") if p.is_file())
    code, out, _ = invoke("list", "--store", str(store), "--json")
    snaps = json.loads(out)["snapshots"]
    assert data["snapshots"] == len(snaps) == 6
    assert data["stored_bytes"] == on_disk  # every object once
    assert data["logical_bytes"] == sum(s["bytes_total"] for s in snaps)
    assert data["dedup_ratio"] == round(on_disk and data["logical_bytes"] / on_disk, 2) > 1
    dbs = {d["database"]: d for d in data["databases"]}
    assert set(dbs) == {"a", "b"}
    a = dbs["a"]
    assert (a["snapshots"], a["newest_year"], len(a["runs"])) == (5, 2027, 2)
    assert [(r["first_year"], r["last_year"]) for r in a["runs"]] == [(2025, 2027), (2025, 2026)]
    assert a["last_verified_at"] is None and a["damaged"] == []

    code, text, _ = invoke("info", "--store", str(store))
    assert code == 0 and "6 snapshot(s)" in text.splitlines()[0]
    table = {ln.split()[0]: ln.split() for ln in text.splitlines()[2:]}
    assert table["a"][1:4] == ["2", "5", "2027"] and table["b"][1:4] == ["1", "1", "2025"]
    assert invoke("verify", "--store", str(store))[0] == 0
    assert info(store)["databases"][0]["last_verified_at"]


def test_a_snapshot_whose_last_verify_failed_is_listed_damaged(
    tmp_path: Path, toy_config: Config
) -> None:
    store = tmp_path / "store"
    run(toy_config, db=tmp_path / "a.duckdb", years=(2025, 2026), store=str(store))
    assert invoke("verify", "--store", str(store))[0] == 0
    manifest = json.loads(next((store / "manifests").glob("*-2026.json")).read_text())
    key = next(
        p["object"]["key"] for t in manifest["tables"] for p in t["partitions"] if not p["reused"]
    )
    victim = store / key
    good = victim.read_bytes()
    victim.write_bytes(b"x" + good[1:])
    assert invoke("verify", "--store", str(store))[0] == 14

    out = invoke("list", "--store", str(store))[1]
    rows = {ln.split()[1]: ln for ln in out.splitlines()[1:]}
    assert "DAMAGED" in rows["2026"] and "DAMAGED" not in rows["2025"]
    assert info(store)["databases"][0]["damaged"] == [manifest["snapshot_id"]]

    victim.write_bytes(good)  # repaired: the next verify clears the mark
    assert invoke("verify", "--store", str(store))[0] == 0
    out = invoke("list", "--store", str(store))[1]
    assert "DAMAGED" not in out
    assert info(store)["databases"][0]["damaged"] == []
