"""Retention: the pure policy, prune on a real store, tags, and prune during a checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest
from conftest import invoke

from navsnap import api
from navsnap.config import Config, load_config
from navsnap.errors import UsageError
from navsnap.index import read_all
from navsnap.index import tags as read_tags
from navsnap.lineage import config_block
from navsnap.manifest import (
    ConfigBlock,
    Fingerprint,
    Manifest,
    ObjectRef,
    Partition,
    PartitionKey,
    TableEntry,
    manifest_key,
)
from navsnap.retention import RetentionPolicy, decide, parse_duration, parse_size, prune
from navsnap.runner import run
from navsnap.snapshot import SnapshotOptions, take_snapshot
from navsnap.store import Store, open_store
from navsnap.tags import tag, untag
from navsnap.verify import verify

# --------------------------------------------------------------------------- pure policy


def snap(run_id: str, year: int, minute: int, objs: tuple[tuple[str, int], ...] = ()) -> Manifest:
    parts = tuple(
        Partition(
            PartitionKey.of_year(str(year)), 1, Fingerprint(1, "f"), ObjectRef(key, key, size)
        )
        for key, size in objs
    )
    table = TableEntry("t", "main", "t", "", (), "simulation_year", (), parts)
    return Manifest(
        snapshot_id=f"{run_id}-{year}",
        run_id=run_id,
        year=year,
        created_at=f"2026-01-01T00:{minute:02d}:00Z",
        mode="parquet",
        navsnap_version="0",
        duckdb_version="0",
        database_name="db",
        storage_version=None,
        year_column="simulation_year",
        config=ConfigBlock(),
        tables=(table,),
    )


HISTORY = [
    snap("r1", 2025, 1, (("a", 10),)),
    snap("r1", 2026, 2, (("a", 10), ("b", 10))),
    snap("r2", 2025, 3, (("c", 10),)),
    snap("r2", 2026, 4, (("c", 10), ("d", 10))),
    snap("r2", 2027, 5, (("c", 10), ("d", 10), ("e", 10))),
]


def kept(policy: RetentionPolicy, **kw: object) -> list[str]:
    return [d.snapshot_id for d in decide(HISTORY, policy, **kw) if d.keep]  # type: ignore[arg-type]


def test_no_rule_keeps_everything() -> None:
    assert len(kept(RetentionPolicy())) == 5


def test_keep_last_runs_years() -> None:
    assert kept(RetentionPolicy(keep_last=2)) == ["r2-2026", "r2-2027"]
    assert kept(RetentionPolicy(keep_runs=1)) == ["r2-2025", "r2-2026", "r2-2027"]
    assert kept(RetentionPolicy(keep_years=(2025,))) == ["r1-2025", "r2-2025", "r2-2027"]


def test_tagged_and_newest_verified_are_protected() -> None:
    assert kept(RetentionPolicy(keep_years=(1999,))) == ["r2-2027"]
    assert kept(RetentionPolicy(keep_years=(1999,)), tags={"base": "r1-2025"}) == [
        "r1-2025",
        "r2-2027",
    ]
    # the newest *verified* snapshot of the newest run is protected, and the furthest state
    assert kept(RetentionPolicy(keep_years=(1999,)), verified={"r2-2026": "t", "r1-2026": "t"}) == [
        "r2-2026",
        "r2-2027",
    ]
    reasons = {d.snapshot_id: d.reasons for d in decide(HISTORY, RetentionPolicy(keep_last=1))}
    assert reasons["r1-2025"] == ("no keep rule matches",)


def test_max_size_drops_oldest_unprotected() -> None:
    # total 50 bytes; shared objects count once
    assert kept(RetentionPolicy(max_size=30)) == ["r2-2025", "r2-2026", "r2-2027"]
    # r1-2026 goes; the r2 snapshots stay because their objects are held by r2-2027 anyway
    assert kept(RetentionPolicy(max_size=30), tags={"t": "r1-2025"}) == [
        "r1-2025",
        "r2-2025",
        "r2-2026",
        "r2-2027",
    ]
    assert kept(RetentionPolicy(max_size=1)) == ["r2-2025", "r2-2026", "r2-2027"]


def test_parse_size() -> None:
    assert parse_size("100MB") == 100_000_000
    assert parse_size("1.5 GiB") == 1610612736
    assert parse_size("512") == 512
    with pytest.raises(UsageError):
        parse_size("lots")


# --------------------------------------------------------------------------- real stores


def make_runs(tmp_path: Path, config: Config) -> Store:
    """Two runs of one database (``sim``, copies in two directories) and one lineage."""
    store = open_store(tmp_path / "store")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    run(config, db=tmp_path / "a" / "sim.duckdb", years=(2025, 2027), store=store)
    run(config, db=tmp_path / "b" / "sim.duckdb", years=(2030, 2031), store=store)
    return store


def test_prune_removes_manifests_then_unreferenced_objects(
    tmp_path: Path, toy_config: Config
) -> None:
    store = make_runs(tmp_path, toy_config)
    before = {o.key for o in store.list_files("objects")}
    report = prune(store, RetentionPolicy(keep_runs=1), grace_minutes=0)
    remaining = read_all(store)[0]
    assert [m.year for m in remaining] == [2030, 2031]
    assert len(report.removed_manifests) == 3
    referenced = {o.key for m in remaining for o in m.objects()}
    after = {o.key for o in store.list_files("objects")}
    assert after == referenced
    assert set(report.removed_objects) == before - referenced and report.removed_objects
    assert report.freed_bytes > 0
    assert verify(store).ok


def test_dry_run_changes_nothing_and_grace_keeps_young(tmp_path: Path, toy_config: Config) -> None:
    store = make_runs(tmp_path, toy_config)

    def files() -> list[str]:
        return [o.key for o in store.list_files("") if not o.key.startswith("locks/")]

    before = files()
    dry = prune(store, RetentionPolicy(keep_runs=1), grace_minutes=0, dry_run=True)
    assert dry.removed_manifests and dry.removed_objects
    assert files() == before
    young = prune(store, RetentionPolicy(keep_runs=1))  # default grace: 60 min
    assert young.removed_manifests and not young.removed_objects
    assert set(young.kept_young_objects) == set(dry.removed_objects)


def test_the_api_refuses_nan_and_inf_where_the_cli_does(tmp_path: Path, toy_config: Config) -> None:
    """nan passes every range check (each comparison is false): a grace of nan minutes would
    keep no young object, so a checkpoint in progress would lose its fresh objects. The
    library refuses it, and infinite or nan waits and ages, as the CLI's options do."""
    store = make_runs(tmp_path, toy_config)

    def files() -> list[str]:
        return [o.key for o in store.list_files("") if not o.key.startswith("locks/")]

    before = files()
    nan, inf = float("nan"), float("inf")
    for call in (
        lambda: api.prune(store, grace_minutes=nan),
        lambda: api.prune(store, grace_minutes=-1.0),
        lambda: api.prune(store, wait_lock=nan),
        lambda: api.verify(store, since_hours=inf),
        lambda: api.verify(store, since_hours=nan),
        lambda: api.restore(
            store=store, db=tmp_path / "a" / "sim.duckdb", year=2026, wait_lock=nan
        ),
    ):
        with pytest.raises(UsageError):
            call()
    assert files() == before


def test_no_policy_only_unreferenced_objects(tmp_path: Path, toy_config: Config) -> None:
    store = make_runs(tmp_path, toy_config)
    stray = store.local_path("objects/ee/" + "ee" * 16 + ".parquet")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"orphan")
    code, out, _ = invoke("prune", "--store", store.url, "--grace-minutes", "0")
    assert code == 0
    assert "only unreferenced objects" in out
    assert f"removed object objects/ee/{'ee' * 16}.parquet" in out
    assert len(read_all(store)[0]) == 5


def test_damaged_manifest_stops_object_removal(tmp_path: Path, toy_config: Config) -> None:
    store = make_runs(tmp_path, toy_config)
    first = read_all(store)[0][0]
    store.local_path(manifest_key(first.snapshot_id)).write_bytes(b"{truncated")
    report = prune(store, RetentionPolicy(keep_runs=1), grace_minutes=0)
    assert report.removed_manifests and not report.removed_objects
    assert any("damaged" in n for n in report.notes)


def test_tags_pin_snapshots(tmp_path: Path, toy_config: Config) -> None:
    store = make_runs(tmp_path, toy_config)
    oldest = read_all(store)[0][0]
    code, out, _ = invoke("tag", oldest.snapshot_id[:-2] + "25", "baseline", "--store", store.url)
    assert code == 0 and "baseline" in out
    assert read_tags(store) == {"baseline": oldest.snapshot_id}
    with pytest.raises(UsageError):
        tag(store, read_all(store)[0][1].snapshot_id, "baseline")
    with pytest.raises(UsageError):
        tag(store, oldest.snapshot_id, "../escape")
    report = prune(store, RetentionPolicy(keep_last=1), grace_minutes=0)
    left = [m.snapshot_id for m in read_all(store)[0]]
    assert oldest.snapshot_id in left and len(left) == 2
    assert oldest.snapshot_id not in report.removed_manifests
    assert api.restore(store=store, db=tmp_path / "r.duckdb", snapshot="baseline")
    untag(store, "baseline")
    code, _out, _err = invoke("untag", "baseline", "--store", store.url)
    assert code == 7
    prune(store, RetentionPolicy(keep_last=1), grace_minutes=0)
    assert len(read_all(store)[0]) == 1


def test_config_policy_runs_after_each_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "navsnap.toml").write_text(
        '[run]\nstep = "toy_pipeline:step"\n[retention]\nkeep_last = 2\n'
    )
    config = load_config(tmp_path / "navsnap.toml")
    store = open_store(tmp_path / "store")
    events: list[str] = []
    run(
        config,
        db=tmp_path / "a.duckdb",
        years=(2025, 2028),
        store=store,
        on_event=lambda e: events.append(e.message),
    )
    assert [m.year for m in read_all(store)[0]] == [2027, 2028]
    assert any(e.startswith("retention: removed 1 snapshot") for e in events)
    # objects of pruned snapshots are young (grace 60 min) so still there; all referenced verify
    assert verify(store, [m.snapshot_id for m in read_all(store)[0]]).ok


def test_prune_during_a_checkpoint_deletes_nothing_referenced(
    tmp_path: Path, toy_config: Config
) -> None:
    store = open_store(tmp_path / "store")
    run(toy_config, db=tmp_path / "a.duckdb", years=(2025, 2025), store=store)
    run(toy_config, db=tmp_path / "c.duckdb", years=(2030, 2030), store=store)
    old = read_all(store)[0][0]  # a-2025: not protected, dropped by keep_last=1
    # database b holds the same rows as a at 2025: its checkpoint will reuse a's objects
    run(toy_config, db=tmp_path / "b.duckdb", years=(2025, 2025), snapshots=False)

    paused, resume = threading.Event(), threading.Event()
    result: list[Manifest] = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "export" and done == 1 and not paused.is_set():
            paused.set()
            assert resume.wait(30)

    def checkpoint() -> None:
        con = duckdb.connect(str(tmp_path / "b.duckdb"), read_only=True)
        try:
            result.append(
                take_snapshot(
                    con,
                    store=store,
                    year=2025,
                    run_id="bcheck",
                    config=config_block(toy_config),
                    options=SnapshotOptions(),
                    progress=progress,
                )
            )
        finally:
            con.close()

    worker = threading.Thread(target=checkpoint)
    worker.start()
    try:
        assert paused.wait(30)
        # Across databases (a and c): a-2025 is then not the newest of its group.
        report = prune(store, RetentionPolicy(keep_last=1, group_by="none"), grace_minutes=0)
        assert report.removed_manifests == (old.snapshot_id,)
        assert not report.removed_objects
        assert any("checkpoint is writing" in n for n in report.notes)
    finally:
        resume.set()
        worker.join(30)
    [made] = result
    assert any(p.reused for t in made.tables for p in t.partitions)
    assert verify(store, [made.snapshot_id]).ok
    # with the checkpoint done, the next prune removes only what nothing references
    again = prune(store, RetentionPolicy(keep_last=5), grace_minutes=0)
    assert not again.removed_manifests
    assert verify(store).ok


def test_failed_delete_fails_loudly(tmp_path: Path, toy_config: Config) -> None:
    store = make_runs(tmp_path, toy_config)
    victim = store.local_path(manifest_key(read_all(store)[0][0].snapshot_id))
    # root ignores permissions, so make the file immutable instead (ext4, xfs, btrfs)
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(victim)], capture_output=True).returncode:
            pytest.skip("chattr +i not supported here")
        undo = ["chattr", "-i", str(victim)]
    else:
        victim.parent.chmod(0o500)
        undo = ["chmod", "700", str(victim.parent)]
    try:
        code, _out, err = invoke("prune", "--store", store.url, "--keep-last", "1")
    finally:
        subprocess.run(undo, check=True)
    assert code == 6 and "could not delete" in err
    assert victim.exists()


def test_prune_json_lists_every_deletion(tmp_path: Path, toy_config: Config) -> None:
    store = make_runs(tmp_path, toy_config)
    for o in store.list_files("objects"):
        t = time.time() - 7200
        os.utime(store.local_path(o.key), (t, t))
    code, out, _ = invoke("prune", "--store", store.url, "--keep-years", "2031", "--json")
    assert code == 0
    data = json.loads(out)
    assert len(data["removed_manifests"]) == 4
    assert data["removed_objects"] and data["freed_bytes"] > 0
    assert {d["snapshot_id"] for d in data["decisions"] if d["keep"]} == {
        m.snapshot_id for m in read_all(store)[0]
    }


def test_a_damaged_tag_file_stops_prune_from_deleting(tmp_path: Path) -> None:
    """A pin whose file cannot be read must not silently stop protecting its snapshot."""
    from conftest import TOY_STEP, tree_bytes

    import navsnap
    from navsnap.errors import StoreError
    from navsnap.retention import RetentionPolicy

    cfg = navsnap.load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    store = tmp_path / "store"
    navsnap.run(cfg, db=tmp_path / "sim.duckdb", years=(2025, 2027), store=str(store))
    (store / "tags").mkdir(exist_ok=True)
    (store / "tags" / "golden.json").write_text("[1, 2")

    def content() -> dict[str, bytes]:
        return {k: v for k, v in tree_bytes(store).items() if not k.startswith("locks/")}

    before = content()
    with pytest.raises(StoreError, match=r"tag file tags/golden\.json"):
        navsnap.prune(store, policy=RetentionPolicy(keep_last=1))
    assert content() == before


# --------------------------------------------------------------------------- groups (#11)


def test_keep_runs_keeps_each_databases_complete_state(tmp_path: Path, toy_config: Config) -> None:
    """big's only complete 2029 state survives --keep-runs 1 although the newest run is a
    killed one of another database; the text output names what it keeps, and why."""
    store = open_store(tmp_path / "store")
    big = run(toy_config, db=tmp_path / "big.duckdb", years=(2025, 2029), store=store)
    run(toy_config, db=tmp_path / "simulation.duckdb", years=(2025, 2026), store=store)
    (tmp_path / "k").mkdir()  # a newer run of simulation, killed after its first year
    killed = run(
        toy_config, db=tmp_path / "k" / "simulation.duckdb", years=(2025, 2025), store=store
    )

    code, out, err = invoke("prune", "--store", store.url, "--keep-runs", "1", "--dry-run")
    assert code == 0, err
    assert f"keep snapshot {big.run_id}-2029 [big/" in out
    assert "would remove snapshot" in out  # the older simulation run, its 2025
    code, out, err = invoke("prune", "--store", store.url, "--keep-runs", "1", "--json")
    assert code == 0, err
    kept_ids = {d["snapshot_id"] for d in json.loads(out)["decisions"] if d["keep"]}
    assert {f"{big.run_id}-{y}" for y in range(2025, 2030)} <= kept_ids
    left = {m.snapshot_id for m in read_all(store)[0]}
    assert f"{big.run_id}-2029" in left and f"{killed.run_id}-2025" in left
    # the simulation group keeps its furthest state (2026) beside the killed newest run
    assert any(s.endswith("-2026") and not s.startswith(big.run_id) for s in left)


def test_group_by_none_is_the_old_whole_store_rule(tmp_path: Path, toy_config: Config) -> None:
    store = open_store(tmp_path / "store")
    big = run(toy_config, db=tmp_path / "big.duckdb", years=(2025, 2026), store=store)
    small = run(toy_config, db=tmp_path / "simulation.duckdb", years=(2025, 2025), store=store)
    report = prune(
        store, RetentionPolicy(keep_runs=1, group_by="none"), grace_minutes=0, dry_run=True
    )
    assert report.removed_manifests == (f"{big.run_id}-2025",)
    assert {d.snapshot_id for d in report.decisions if d.keep} == {
        f"{big.run_id}-2026",  # the furthest year is protected even across databases
        f"{small.run_id}-2025",
    }


def test_keep_within_keeps_young_snapshots() -> None:
    import datetime as dt

    now = dt.datetime(2026, 1, 1, 0, 10, tzinfo=dt.UTC)
    got = [
        d.snapshot_id
        for d in decide(HISTORY, RetentionPolicy(keep_within=4 * 60), now=now)
        if d.keep
    ]
    # created at minutes 1..5; 4 minutes before 00:10 keeps none (r2-2027 is protected)
    assert got == ["r2-2027"]
    got = [
        d.snapshot_id
        for d in decide(HISTORY, RetentionPolicy(keep_within=7 * 60), now=now)
        if d.keep
    ]
    assert got == ["r2-2025", "r2-2026", "r2-2027"]
    with pytest.raises(UsageError):
        RetentionPolicy(group_by="planet")
    assert parse_duration("30d") == 30 * 86400 and parse_duration("12h") == 12 * 3600
    with pytest.raises(UsageError):
        parse_duration("soon")
