"""navsnap verify: object hashes, damaged manifests, orphans, deep data checks, the record."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
from conftest import invoke

from navsnap import api
from navsnap.config import load_config
from navsnap.errors import UsageError
from navsnap.index import read_all
from navsnap.manifest import Fingerprint, manifest_key
from navsnap.runner import run
from navsnap.store import Store, open_store
from navsnap.verify import last_verified, verify


def make_store(tmp_path: Path, years: tuple[int, int] = (2025, 2026)) -> tuple[Store, Path]:
    config = load_config(overrides={"run.step": "toy_pipeline:step"}, search_cwd=False)
    db = tmp_path / "sim.duckdb"
    store = open_store(tmp_path / "store")
    run(config, db=db, years=years, store=store)
    return store, db


def age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_clean_store_verifies_and_is_recorded(tmp_path: Path) -> None:
    store, _db = make_store(tmp_path)
    report = verify(store, deep=True)
    assert report.ok, report.problems
    assert report.objects_checked == report.objects_total > 0
    assert report.bytes_hashed == sum(o.size for o in store.list_files("objects"))
    manifests, _ = read_all(store)
    assert set(report.verified_snapshots) == {m.snapshot_id for m in manifests}
    assert set(last_verified(store)) == {m.snapshot_id for m in manifests}
    snaps, _ = api.list_snapshots(store)
    assert all(s.verified_at for s in snaps)
    code, out, _ = invoke("verify", "--store", store.url)
    assert code == 0 and "ok" in out


def test_corrupt_object_named_with_the_snapshots_it_breaks(tmp_path: Path) -> None:
    store, _db = make_store(tmp_path)
    manifests, _ = read_all(store)
    shared = manifests[0].table("people").partitions[0].object  # used by both years
    path = store.local_path(shared.key)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    report = verify(store)
    assert not report.ok
    [p] = report.problems
    assert (p.kind, p.key) == ("corrupt", shared.key)
    assert set(p.snapshots) == {m.snapshot_id for m in manifests}
    assert not last_verified(store)  # a broken snapshot loses its verified mark
    code, _out, err = invoke("verify", "--store", store.url)
    assert code == 14
    assert shared.key in err and manifests[0].snapshot_id in err


def test_missing_object_and_json_output(tmp_path: Path) -> None:
    store, _db = make_store(tmp_path)
    newest = read_all(store)[0][-1]
    only_new = next(p.object for t in newest.tables for p in t.partitions if not p.reused)
    store.delete(only_new.key)
    code, out, _ = invoke("verify", "--store", store.url, "--json")
    assert code == 14
    data = json.loads(out)
    assert data["ok"] is False
    assert data["problems"] == [
        {
            "kind": "missing",
            "key": only_new.key,
            "detail": "object is missing",
            "snapshots": [newest.snapshot_id],
        }
    ]
    assert data["broken_snapshots"] == [newest.snapshot_id]


def test_damaged_manifest_reported(tmp_path: Path) -> None:
    store, _db = make_store(tmp_path)
    m = read_all(store)[0][0]
    path = store.local_path(manifest_key(m.snapshot_id))
    path.write_bytes(path.read_bytes().replace(b'"rows": 200', b'"rows": 201', 1))
    report = verify(store)
    kinds = {(p.kind, p.snapshots) for p in report.problems}
    assert ("damaged-manifest", (m.snapshot_id,)) in kinds
    # asked for by id, the damaged one is reported too (not an exception)
    report2 = verify(store, [m.snapshot_id])
    assert [p.kind for p in report2.problems] == ["damaged-manifest"]


def test_orphans_old_counted_young_pending(tmp_path: Path) -> None:
    store, _db = make_store(tmp_path)
    old = store.local_path("objects/ab/" + "ab" * 16 + ".parquet")
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"left over")
    age(old, 7200)
    young = store.local_path("objects/cd/" + "cd" * 16 + ".parquet")
    young.parent.mkdir(parents=True, exist_ok=True)
    young.write_bytes(b"being written")
    report = verify(store)
    assert [(p.kind, p.key) for p in report.problems] == [
        ("orphaned", "objects/ab/" + "ab" * 16 + ".parquet")
    ]
    assert report.pending_orphans == ("objects/cd/" + "cd" * 16 + ".parquet",)
    assert report.broken_snapshots == ()
    # checking one snapshot does not look for orphans
    sid = read_all(store)[0][0].snapshot_id
    assert verify(store, [sid]).ok


def test_deep_finds_data_that_disagrees_with_its_manifest(tmp_path: Path) -> None:
    store, _db = make_store(tmp_path)
    m = read_all(store)[0][-1]
    yearly = m.table("yearly")
    bad_part = dataclasses.replace(yearly.partitions[-1], fingerprint=Fingerprint(200, "12345"))
    bad_table = dataclasses.replace(yearly, partitions=(*yearly.partitions[:-1], bad_part))
    tables = tuple(bad_table if t.name == "yearly" else t for t in m.tables)
    run = m.run_id + "x"
    forged = dataclasses.replace(m, snapshot_id=f"{run}-{m.year}", run_id=run, tables=tables)
    store.write_bytes_atomic(manifest_key(forged.snapshot_id), forged.to_json())
    assert verify(store, [forged.snapshot_id]).ok  # hashes are right
    deep = verify(store, [forged.snapshot_id], deep=True)
    [p] = deep.problems
    assert p.kind == "data-mismatch" and p.key == bad_part.object.key
    assert forged.snapshot_id not in last_verified(store)


def test_deep_never_runs_check_sql_from_a_manifest(tmp_path: Path) -> None:
    """Check SQL in a manifest is the writer's: verify --deep does not run it (issue 13)."""
    store, _db = make_store(tmp_path, (2025, 2025))
    m = read_all(store)[0][0]
    canary = tmp_path / "canary.csv"
    values = dict(m.config.values)
    values["checks"] = {"n": f"COPY (SELECT 1) TO '{canary}'"}
    forged = dataclasses.replace(
        m,
        snapshot_id=f"chkforged-{m.year}",
        run_id="chkforged",
        config=dataclasses.replace(m.config, values=values),
        checks={"n": 199},
    )
    store.write_bytes_atomic(manifest_key(forged.snapshot_id), forged.to_json())
    assert verify(store, [forged.snapshot_id], deep=True).ok
    assert not canary.exists()


def test_deep_recomputes_local_sql_checks(tmp_path: Path) -> None:
    """compare recomputes the checks of the local configuration the manifest has values for."""
    import duckdb

    from navsnap.compare import aggregate_mismatches

    store, db = make_store(tmp_path, (2025, 2025))
    m = dataclasses.replace(read_all(store)[0][0], checks={"n_yearly": 199})
    local = {"n_yearly": "SELECT count(*) FROM yearly WHERE simulation_year = $year"}
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert aggregate_mismatches(con, m) == []
        [mm] = aggregate_mismatches(con, m, checks=local)
        assert mm.kind == "checks" and mm.keys == ("n_yearly",)
        ok = dataclasses.replace(m, checks={"n_yearly": 200})
        assert aggregate_mismatches(con, ok, checks=local) == []
    finally:
        con.close()


def test_sample_and_since_hours(tmp_path: Path) -> None:
    store, _db = make_store(tmp_path, (2025, 2027))
    total = verify(store, record=False).objects_total
    sampled = verify(store, sample_pct=50, seed=1)
    assert sampled.objects_checked == round(total * 0.5)
    verify(store)
    again = verify(store, since_hours=1)
    assert again.objects_checked == 0 and again.objects_skipped_recent == total
    assert again.ok and len(again.verified_snapshots) == 3
    # a skipped object is not re-hashed, but corruption is found once re-checked
    key = read_all(store)[0][0].objects()[0].key
    store.local_path(key).write_bytes(b"garbage")
    assert verify(store, since_hours=1).ok
    assert not verify(store).ok


def test_dangling_tag_and_bad_sample(tmp_path: Path) -> None:
    store, _db = make_store(tmp_path, (2025, 2025))
    store.write_bytes_atomic("tags/gone.json", b'{"snapshot_id": "nope-2025"}')
    [p] = verify(store).problems
    assert p.kind == "dangling-tag"
    code, _out, _err = invoke("verify", "--store", store.url, "--sample", "0")
    assert code == 2
    with pytest.raises(UsageError, match="out of range"):
        api.verify(store, sample_pct=150)


def test_verify_help_has_example() -> None:
    for name in ("verify", "diff", "prune", "tag", "untag"):
        code, out, _ = invoke(name, "--help")
        assert code == 0 and "Example:" in out and "--json" in out
