"""Whole-file mode: reflink on a reflink-capable filesystem, streamed copy elsewhere."""

from __future__ import annotations

from pathlib import Path

from conftest import TOY_STEP, table_fingerprints

import navsnap
from navsnap.index import read_all
from navsnap.store import open_store


def file_config() -> navsnap.Config:
    return navsnap.load_config(
        overrides={"run.step": TOY_STEP, "snapshot.mode": "file"}, search_cwd=False
    )


def test_reflink_path_on_xfs(xfs_dir: Path) -> None:
    db = xfs_dir / "sim.duckdb"
    store = xfs_dir / "store"
    navsnap.run(file_config(), db=db, years=(2025, 2026), store=str(store))
    manifests, _ = read_all(open_store(store))
    assert [m.file.method for m in manifests if m.file] == ["reflink", "reflink"]
    assert all(not m.file.compressed for m in manifests if m.file)
    snaps, _ = navsnap.list_snapshots(store)
    assert [s.copy_method for s in snaps] == ["reflink", "reflink"]
    expected = table_fingerprints(db)
    db.write_bytes(b"\0" * 4096)
    navsnap.restore(store=store, db=db, year=2026)
    assert table_fingerprints(db) == expected


def test_copy_path_when_store_is_elsewhere(tmp_path: Path) -> None:
    db = tmp_path / "sim.duckdb"
    navsnap.run(file_config(), db=db, years=(2025, 2025), store=f"memory://fm-{tmp_path.name}")
    snaps, _ = navsnap.list_snapshots(f"memory://fm-{tmp_path.name}")
    assert [s.copy_method for s in snaps] == ["copy"]


def test_whole_file_snapshot_includes_commits_still_in_the_wal(tmp_path: Path) -> None:
    """The CHECKPOINT before the copy moves WAL contents into the file."""
    import duckdb

    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("SET checkpoint_threshold = '1GB'")
    con.execute("CREATE TABLE t AS SELECT 2025 AS simulation_year, range AS v FROM range(1000)")
    con.close()
    con = duckdb.connect(str(db))
    con.execute("SET checkpoint_threshold = '1GB'")
    con.execute("INSERT INTO t SELECT 2025, range FROM range(1000, 1500)")
    # keep the connection open (WAL not checkpointed), snapshot through navsnap's API
    from navsnap.lineage import config_block
    from navsnap.snapshot import SnapshotOptions, take_snapshot

    cfg = navsnap.load_config(search_cwd=False)
    store = open_store(tmp_path / "store")
    m = take_snapshot(
        con,
        store=store,
        year=2025,
        run_id="walrun",
        config=config_block(cfg),
        options=SnapshotOptions(mode="file"),
        db_path=db,
    )
    con.close()
    navsnap.restore(store=store, db=db, snapshot=m.snapshot_id, to=tmp_path / "r.duckdb")
    assert table_fingerprints(tmp_path / "r.duckdb")["main.t"][0] == 1500
