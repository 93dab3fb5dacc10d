"""The hot tier (#16): whole-file copies of the latest K year-ends beside the Parquet snapshots.

Restoring or resuming a year with a live copy is a verified file copy, with exactly the tables
the Parquet path gives; a missing, damaged or too new copy falls back to Parquet and says so;
only the latest K copies stay referenced, and prune collects the others.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import TOY_STEP, database_names, invoke_at, scratch_databases, table_fingerprints

import navsnap
from navsnap.config import Config, load_config
from navsnap.hotwindow import live_hot_snapshots
from navsnap.index import read_all
from navsnap.manifest import Manifest
from navsnap.retention import RetentionPolicy
from navsnap.store import layout, open_store

YEARS = (2025, 2029)
K = 2


def hot_config(k: int = K) -> Config:
    return load_config(overrides={"run.step": TOY_STEP, "snapshot.hot": k}, search_cwd=False)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A five-year toy run with ``--hot 2`` and a reference run without snapshots."""
    root = tmp_path_factory.mktemp("hot")
    navsnap.run(hot_config(), db=root / "sim.duckdb", years=YEARS, store=str(root / "store"))
    for last in (2027, 2029):
        navsnap.run(hot_config(), db=root / f"ref-{last}.duckdb", years=(2025, last),
                    snapshots=False)  # fmt: skip
    yield root


@pytest.fixture
def work(golden: Path, tmp_path: Path) -> Path:
    cwd = tmp_path / "w"
    shutil.copytree(golden, cwd)
    return cwd


def manifests(cwd: Path) -> dict[int, Manifest]:
    return manifests_of(cwd / "store")


def manifests_of(store: Path) -> dict[int, Manifest]:
    ms, broken = read_all(open_store(store))
    assert not broken
    return {m.year: m for m in ms}


def hot_path(cwd: Path, m: Manifest) -> Path:
    assert m.hot is not None
    return cwd / "store" / m.hot.object.key


def rewrite(cwd: Path, m: Manifest) -> None:
    """Replace a manifest on disk (with a correct integrity hash: a writer's own record)."""
    (cwd / "store" / layout.manifest_key(m.snapshot_id)).write_bytes(m.to_json())


def restore_json(cwd: Path, year: int, to: str) -> dict[str, object]:
    res = invoke_at("restore", "--year", str(year), "--db", "sim.duckdb", "--store", "store",
                    "--to", to, "--json", cwd=cwd)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out: dict[str, object] = json.loads(res.stdout)
    return out


# --------------------------------------------------------------------------- writing


def test_every_snapshot_records_its_copy_and_only_the_latest_k_stay_live(work: Path) -> None:
    ms = manifests(work)
    assert sorted(ms) == list(range(YEARS[0], YEARS[1] + 1))
    for m in ms.values():
        assert m.hot is not None and m.hot.keep == K
        assert m.hot.compression in ("none", "zstd")
        assert m.hot.storage_version == m.storage_version
        assert hot_path(work, m).stat().st_size == m.hot.object.size
        # The Parquet snapshot is whole without it: the copy is not one of its objects.
        assert m.hot.object.key not in {o.key for o in m.objects()}
    live = live_hot_snapshots(ms.values())
    assert live == {ms[2028].snapshot_id, ms[2029].snapshot_id}
    listed = {s.year: s.hot_bytes for s in navsnap.list_snapshots(work / "store").snapshots}
    assert listed == {2025: 0, 2026: 0, 2027: 0, 2028: ms[2028].hot_bytes,
                      2029: ms[2029].hot_bytes}  # fmt: skip
    info = invoke_at("info", "--store", "store", "--json", cwd=work)
    assert info.returncode == 0, info.stderr
    (db,) = json.loads(info.stdout)["databases"]
    assert db["hot"] == [{"year": 2028, "bytes": ms[2028].hot_bytes},
                         {"year": 2029, "bytes": ms[2029].hot_bytes}]  # fmt: skip
    assert db["hot_bytes"] == ms[2028].hot_bytes + ms[2029].hot_bytes


def test_the_copy_is_exactly_the_year_end(work: Path) -> None:
    """Each year's copy holds that year's end, though the next year's step ran meanwhile."""
    m = manifests(work)[2027]
    out = restore_json(work, 2027, "r.duckdb")
    assert out["source"] == "hot", out
    assert table_fingerprints(work / "r.duckdb") == table_fingerprints(work / "ref-2027.duckdb")
    assert out["snapshot_id"] == m.snapshot_id


def test_prune_keeps_the_latest_k_copies_and_collects_the_rest(work: Path) -> None:
    ms = manifests(work)
    report = navsnap.prune(work / "store", policy=RetentionPolicy(), grace_minutes=0)
    released = {hot_path(work, ms[y]).relative_to(work / "store").as_posix() for y in
                (2025, 2026, 2027)}  # fmt: skip
    assert set(report.removed_objects) == released
    assert not report.removed_manifests
    for year in (2025, 2026, 2027):
        assert not hot_path(work, ms[year]).exists()
    for year in (2028, 2029):
        assert hot_path(work, ms[year]).exists()
    res = invoke_at("verify", "--all", "--store", "store", "--db", "sim.duckdb", cwd=work)
    assert res.returncode == 0, res.stdout + res.stderr
    # A released year restores from Parquet, and says why.
    out = restore_json(work, 2027, "old.duckdb")
    assert out["source"] == "parquet" and "missing" in str(out["hot_fallback"])
    assert table_fingerprints(work / "old.duckdb") == table_fingerprints(work / "ref-2027.duckdb")


def test_verify_does_not_call_a_released_copy_an_orphan(work: Path) -> None:
    """However old, a released copy is named by its manifest: prune's to remove, not damage."""
    from navsnap.verify import verify

    # Nor does it read copies: a damaged one costs only the fast path.
    hot_path(work, manifests(work)[2029]).write_bytes(b"damaged")
    report = verify(open_store(work / "store"), orphan_grace=0.0, record=False)
    assert report.ok, report.problems
    assert not report.pending_orphans
    stray = work / "store" / layout.object_key("ab" * 16, "parquet")
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"not referenced by anything")
    report = verify(open_store(work / "store"), orphan_grace=0.0, record=False)
    assert [p.kind for p in report.problems] == ["orphaned"]


def test_young_released_copies_wait_for_the_grace_period(work: Path) -> None:
    report = navsnap.prune(work / "store", policy=RetentionPolicy())
    assert not report.removed_objects
    assert len(report.kept_young_objects) == 3


# --------------------------------------------------------------------------- restoring


def test_hot_restore_gives_the_tables_of_the_parquet_path(work: Path) -> None:
    hot = restore_json(work, 2029, "hot.duckdb")
    assert hot["source"] == "hot" and hot["strategy"] == "hot" and hot["hot_fallback"] is None
    ms = manifests(work)
    # The same snapshot without its copy: the Parquet path.
    rewrite(work, dataclasses.replace(ms[2029], hot=None))
    cold = restore_json(work, 2029, "cold.duckdb")
    assert cold["source"] == "parquet" and cold["hot_fallback"] is None
    want = table_fingerprints(work / "ref-2029.duckdb")
    assert table_fingerprints(work / "hot.duckdb") == want
    assert table_fingerprints(work / "cold.duckdb") == want
    views = "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY 1"
    got = []
    for name in ("hot.duckdb", "cold.duckdb"):
        con = duckdb.connect(str(work / name), read_only=True)
        got.append(con.execute(views).fetchall())
        con.close()
    assert got[0] == got[1]


def test_in_place_restore_uses_the_copy_and_keeps_the_old_file(work: Path) -> None:
    report = navsnap.restore(store=work / "store", db=work / "sim.duckdb", year=2028)
    assert report.source == "hot" and report.plan.strategy == "hot"
    assert len(report.moved_aside) == 1 and Path(report.moved_aside[0]).exists()
    con = duckdb.connect(str(work / "sim.duckdb"), read_only=True)
    top = con.execute("SELECT max(simulation_year) FROM yearly").fetchone()
    con.close()
    assert top == (2028,)


def test_damaged_copy_falls_back_to_parquet(work: Path) -> None:
    copy = hot_path(work, manifests(work)[2029])
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    out = restore_json(work, 2029, "r.duckdb")
    assert out["source"] == "parquet"
    assert "damaged" in str(out["hot_fallback"])
    assert table_fingerprints(work / "r.duckdb") == table_fingerprints(work / "ref-2029.duckdb")
    assert not list(work.glob(".r.duckdb.navsnap-*")), "temporary left behind"


def test_copy_in_newer_storage_falls_back_to_parquet(work: Path) -> None:
    m = manifests(work)[2029]
    assert m.hot is not None
    rewrite(work, dataclasses.replace(m, hot=dataclasses.replace(m.hot, storage_version="v99.0.0")))
    out = restore_json(work, 2029, "r.duckdb")
    assert out["source"] == "parquet"
    assert "v99.0.0" in str(out["hot_fallback"])
    assert table_fingerprints(work / "r.duckdb") == table_fingerprints(work / "ref-2029.duckdb")


def test_resume_restores_from_the_copy(work: Path) -> None:
    """A crash in 2027 left garbage: --resume restores 2026's end from its copy... once the
    run of 2025-2026 is the chain's newest, so the case is built from a shorter run."""
    cwd = work / "short"
    cwd.mkdir()
    navsnap.run(hot_config(), db=cwd / "sim.duckdb", years=(2025, 2027), store=str(cwd / "store"))
    (cwd / "sim.duckdb").write_bytes(b"not a database\n" * 100)
    res = invoke_at("run", "--years", "2025-2029", "--step", TOY_STEP, "--hot", "2", "--db",
                    "sim.duckdb", "--store", "store", "--resume", "--json", cwd=cwd)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["restore"]["source"] == "hot", out
    assert out["restore"]["hot_fallback"] is None
    assert [y["year"] for y in out["years"]] == [2028, 2029]
    assert table_fingerprints(cwd / "sim.duckdb") == table_fingerprints(work / "ref-2029.duckdb")


def test_resume_with_a_damaged_copy_says_so_and_uses_parquet(work: Path) -> None:
    cwd = work / "short"
    cwd.mkdir()
    navsnap.run(hot_config(), db=cwd / "sim.duckdb", years=(2025, 2027), store=str(cwd / "store"))
    (cwd / "sim.duckdb").write_bytes(b"not a database\n" * 100)
    hot_path(cwd, manifests(cwd)[2027]).write_bytes(b"garbage")
    report = navsnap.run(hot_config(), db=cwd / "sim.duckdb", years=YEARS,
                         store=str(cwd / "store"), resume=True)  # fmt: skip
    assert report.restored is not None
    assert report.restored.source == "parquet"
    assert report.restored.hot_fallback is not None
    assert table_fingerprints(cwd / "sim.duckdb") == table_fingerprints(work / "ref-2029.duckdb")


# --------------------------------------------------------------------------- format


def test_manifest_without_a_copy_has_no_hot_field(tmp_path: Path, toy_config: Config) -> None:
    navsnap.run(toy_config, db=tmp_path / "sim.duckdb", years=(2025, 2025),
                store=str(tmp_path / "store"))  # fmt: skip
    (m,) = read_all(open_store(tmp_path / "store"))[0]
    assert m.hot is None and "hot" not in m.to_dict()
    assert not list((tmp_path / "store").rglob("*.hot.duckdb*"))


def test_manifest_round_trips_its_copy(work: Path) -> None:
    m = manifests(work)[2029]
    again = Manifest.from_json(m.to_json())
    assert again == m and again.hot == m.hot
    data = json.loads(m.to_json())
    assert set(data["hot"]) == {"object", "method", "compression", "raw_size", "raw_xxh3",
                                "storage_version", "keep"}  # fmt: skip


def test_resume_warns_when_the_copy_is_not_used(work: Path) -> None:
    cwd = work / "short"
    cwd.mkdir()
    navsnap.run(hot_config(), db=cwd / "sim.duckdb", years=(2025, 2026), store=str(cwd / "store"))
    (cwd / "sim.duckdb").write_bytes(b"not a database\n" * 100)
    hot_path(cwd, manifests(cwd)[2026]).unlink()
    res = invoke_at("run", "--years", "2025-2026", "--step", TOY_STEP, "--db", "sim.duckdb",
                    "--store", "store", "--resume", cwd=cwd)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "hot copy not used" in res.stderr and "missing" in res.stderr


def test_restoring_some_tables_never_uses_the_copy(work: Path) -> None:
    res = invoke_at("restore", "--year", "2029", "--db", "sim.duckdb", "--store", "store",
                    "--to", "part.duckdb", "--tables", "yearly", "--json", cwd=work)  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["source"] == "parquet" and out["hot_fallback"] is None


def _fd_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names fds through /proc")
def test_hot_restore_reads_the_copy_once_and_makes_it_durable_before_the_swap(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy is hashed as it is written (the bytes hashed are the bytes written: nothing
    re-reads it), and its fsync, overlapped with the catalog and row checks, is done before
    the file is swapped into place."""
    import navsnap.hashing as hashing
    import navsnap.hot as hot_module

    events: list[tuple[str, str]] = []
    real_fsync, real_hash = os.fsync, hashing.hash_file
    pipeline = sys.modules["navsnap.restore.pipeline"]
    real_swap = pipeline.swap_into_place

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", _fd_path(fd)))

    def hash_file(path: str | os.PathLike[str], **kw: object) -> tuple[str, int]:
        events.append(("hash", str(Path(path).resolve())))
        return real_hash(path)

    def swap(tmp: Path, target: Path, **kw: object) -> tuple[str, ...]:
        events.append(("swap", str(tmp.resolve())))
        out: tuple[str, ...] = real_swap(tmp, target, **kw)
        return out

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(hot_module, "hash_file", hash_file)
    monkeypatch.setattr(sys.modules["navsnap.filecopy"], "hash_file", hash_file)
    monkeypatch.setattr(pipeline, "swap_into_place", swap)
    report = navsnap.restore(store=work / "store", db=work / "sim.duckdb", year=2029,
                             to=work / "r.duckdb")  # fmt: skip
    assert report.source == "hot" and "copy" in report.plan.reason, report
    (tmp,) = [path for what, path in events if what == "swap"]
    assert ("hash", tmp) not in events, "the unpacked copy was read again to hash it"
    assert events.index(("fsync", tmp)) < events.index(("swap", tmp))
    assert table_fingerprints(work / "r.duckdb") == table_fingerprints(work / "ref-2029.duckdb")


def test_the_copy_is_sent_to_disk_while_it_is_written(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every range of the unpacked copy is handed to the disk as soon as it is written (the
    fsync before the swap then finds little left), and the hint is harmless where it fails."""
    from navsnap.fsutil import start_writeback

    start_writeback(-1, 0, 4096)  # a bad descriptor: nothing happens
    filecopy = sys.modules["navsnap.filecopy"]
    ranges: list[tuple[int, int]] = []

    def record(fd: int, offset: int, length: int) -> None:
        ranges.append((offset, length))
        start_writeback(fd, offset, length)

    monkeypatch.setattr(filecopy, "start_writeback", record)
    report = navsnap.restore(store=work / "store", db=work / "sim.duckdb", year=2029,
                             to=work / "r.duckdb")  # fmt: skip
    assert report.source == "hot"
    assert ranges and ranges[0][0] == 0
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(ranges))
    assert ranges[-1][0] + ranges[-1][1] == (work / "r.duckdb").stat().st_size


def test_a_copy_that_cannot_be_mmapped_is_read_and_the_restore_stays_hot(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem that cannot mmap (ENODEV: some FUSE and network mounts) makes the copy
    read() its object instead: same bytes, same hash, the hot restore does not abort."""
    import errno
    import mmap

    import navsnap.filecopy as filecopy
    from navsnap.hashing import hash_bytes, hash_file

    def no_mmap(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(mmap, "mmap", no_mmap)
    report = navsnap.restore(store=work / "store", db=work / "sim.duckdb", year=2029,
                             to=work / "r.duckdb")  # fmt: skip
    assert report.source == "hot" and report.plan.reason.endswith("(copy)"), report
    assert table_fingerprints(work / "r.duckdb") == table_fingerprints(work / "ref-2029.duckdb")
    # several chunks, the last one short
    monkeypatch.setattr(filecopy, "_BUF", 4096)
    data = os.urandom(3 * 4096 + 123)
    (work / "src.bin").write_bytes(data)
    got = filecopy._copy_hashed(work / "src.bin", work / "dst.bin")
    assert got == (hash_bytes(data), len(data))
    assert (work / "dst.bin").read_bytes() == data
    assert hash_file(work / "src.bin") == (hash_bytes(data), len(data))  # verify's hash too


def test_a_copy_of_another_year_is_refused_by_its_row_counts(work: Path) -> None:
    """A manifest naming an intact copy that is not its database (another year's, with that
    copy's own hash): the row counts differ, so the restore takes the Parquet path."""
    ms = manifests(work)
    assert ms[2028].hot is not None
    rewrite(work, dataclasses.replace(ms[2029], hot=ms[2028].hot))
    out = restore_json(work, 2029, "r.duckdb")
    assert out["source"] == "parquet", out
    assert "rows" in str(out["hot_fallback"]), out
    assert table_fingerprints(work / "r.duckdb") == table_fingerprints(work / "ref-2029.duckdb")


def test_fsync_behind_waits_and_raises_its_error_unless_the_block_failed(tmp_path: Path) -> None:
    from navsnap.fsutil import fsync_behind

    present = tmp_path / "f"
    present.write_bytes(b"x")
    with fsync_behind(present):
        pass
    with pytest.raises(FileNotFoundError), fsync_behind(tmp_path / "absent"):
        pass
    with pytest.raises(ValueError), fsync_behind(tmp_path / "absent"):
        raise ValueError("the block's own error wins")


def _fake_reflink(src: Path, dest: Path) -> bool:
    """Stands in for FICLONE on ext4, which cannot clone: a plain copy that says it cloned.
    It proves what navsnap does on the reflink branch (checks, reports), not the clone."""
    shutil.copyfile(src, dest)
    return True


def fake_clones(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("navsnap.filecopy", "navsnap.hot"):
        monkeypatch.setattr(sys.modules[module], "reflink", _fake_reflink)


def test_reflink_branch_restores_and_checks_the_clone(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_clones(monkeypatch)
    report = navsnap.restore(store=work / "store", db=work / "sim.duckdb", year=2029,
                             to=work / "r.duckdb")  # fmt: skip
    assert report.source == "hot" and report.plan.reason.endswith("(reflink)"), report
    assert table_fingerprints(work / "r.duckdb") == table_fingerprints(work / "ref-2029.duckdb")
    # A damaged object is cloned damaged: the clone's hash refuses it.
    copy = hot_path(work, manifests(work)[2029])
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    report = navsnap.restore(store=work / "store", db=work / "sim.duckdb", year=2029,
                             to=work / "r2.duckdb")  # fmt: skip
    assert report.source == "parquet" and "damaged" in str(report.hot_fallback), report
    assert table_fingerprints(work / "r2.duckdb") == table_fingerprints(work / "ref-2029.duckdb")
    assert not list(work.glob(".r2.duckdb.navsnap-*")), "temporary left behind"


# --------------------------------------------------------------------------- analysts


QUERY = "SELECT count(*), sum(hash(y)::HUGEINT)::VARCHAR FROM yearly AS y"


def test_sql_attaches_the_copy_and_answers_as_the_views(work: Path) -> None:
    from navsnap.analyst import connect

    store = open_store(work / "store")
    m = manifests(work)[2029]
    assert m.hot is not None and m.hot.compression == "none"  # a local store: not compressed
    views = connect(store, dataclasses.replace(m, hot=None))  # views over Parquet
    want = views.execute(QUERY).fetchall()
    assert views.execute("SELECT current_database()").fetchone() == ("memory",)
    views.close()
    con = connect(store, m)
    try:
        assert con.execute("SELECT current_database()").fetchone() == ("navsnap_hot",)
        assert con.execute(QUERY).fetchall() == want
        with pytest.raises(duckdb.Error, match="read-only"):
            con.execute("DELETE FROM yearly")
    finally:
        con.close()
    res = invoke_at("sql", m.snapshot_id, QUERY, "--store", "store", "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    assert [list(r.values()) for r in json.loads(res.stdout)] == [list(r) for r in want]


def test_sql_uses_views_when_the_copy_is_damaged(work: Path) -> None:
    from navsnap.analyst import connect

    m = manifests(work)[2029]
    copy = hot_path(work, m)
    data = bytearray(copy.read_bytes())
    data[len(data) // 3] ^= 0x01
    copy.write_bytes(bytes(data))
    con = connect(open_store(work / "store"), m)
    try:
        assert con.execute("SELECT current_database()").fetchone() == ("memory",)
        assert con.execute("SELECT count(*) FROM yearly").fetchone() is not None
    finally:
        con.close()


def test_sql_uses_views_when_a_wal_lies_beside_the_copy(work: Path) -> None:
    """DuckDB would replay a .wal beside the attached copy even read-only, changing what the
    hashed file answers: the views over Parquet answer instead."""
    from navsnap.analyst import connect

    m = manifests(work)[2029]
    copy = hot_path(work, m)
    # A real .wal of this very file, that deletes every row of yearly when replayed.
    twin = work / "twin.duckdb"
    shutil.copy(copy, twin)
    code = (
        "import duckdb, os, sys; c = duckdb.connect(sys.argv[1]);"
        " c.execute(\"SET checkpoint_threshold = '1GB'\"); c.execute('DELETE FROM yearly');"
        " os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(twin)], check=True)
    shutil.copy(twin.with_name("twin.duckdb.wal"), copy.with_name(copy.name + ".wal"))
    con = connect(open_store(work / "store"), m)
    try:
        assert con.execute("SELECT current_database()").fetchone() == ("memory",)
        assert con.execute("SELECT count(*) FROM yearly").fetchone() != (0,)
    finally:
        con.close()


def test_zstd_copies_restore_and_sql_keeps_the_views(tmp_path: Path) -> None:
    """hot_compression = "zstd" (the default on remote stores) on a local store."""
    from navsnap.analyst import connect

    cfg = load_config(overrides={"run.step": TOY_STEP, "snapshot.hot": 1,
                                 "snapshot.hot_compression": "zstd"}, search_cwd=False)  # fmt: skip
    navsnap.run(cfg, db=tmp_path / "sim.duckdb", years=(2025, 2026), store=str(tmp_path / "store"))
    m = manifests(tmp_path)[2026]
    assert m.hot is not None and m.hot.compression == "zstd" and m.hot.method == "copy"
    assert m.hot.object.key.endswith(".hot.duckdb.zst") and m.hot.object.size < m.hot.raw_size
    out = restore_json(tmp_path, 2026, "r.duckdb")
    assert out["source"] == "hot" and out["hot_fallback"] is None
    assert table_fingerprints(tmp_path / "r.duckdb") == table_fingerprints(tmp_path / "sim.duckdb")
    con = connect(open_store(tmp_path / "store"), m)
    try:
        assert con.execute("SELECT current_database()").fetchone() == ("memory",)
    finally:
        con.close()
    # A damaged zstd stream: the Parquet path, which says so.
    copy = hot_path(tmp_path, m)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    copy.write_bytes(bytes(data))
    out = restore_json(tmp_path, 2026, "r2.duckdb")
    assert out["source"] == "parquet" and "damaged" in str(out["hot_fallback"]), out
    assert not list(tmp_path.glob(".r2.duckdb.navsnap-*")), "temporary left behind"


def test_attach_clones_the_copy_where_the_filesystem_can(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a clone possible (faked here: ext4 cannot clone), attach writes the clone of the
    hot copy, holding the snapshot's own tables, plus navsnap_info; it answers as the views."""
    from navsnap.analyst import connect, write_attach_file

    store = open_store(work / "store")
    m = manifests(work)[2029]
    views = connect(store, dataclasses.replace(m, hot=None))
    want = views.execute(QUERY).fetchall()
    views.close()
    fake_clones(monkeypatch)
    report = write_attach_file(store, m, work / "a.duckdb")
    assert report.source == "hot" and report.views == (), report
    con = duckdb.connect(str(work / "a.duckdb"), read_only=True)
    try:
        kinds = dict(
            con.execute(
                "SELECT table_name, table_type FROM information_schema.tables "
                "WHERE table_name IN ('yearly', 'navsnap_info')"
            ).fetchall()
        )
        assert kinds == {"yearly": "BASE TABLE", "navsnap_info": "BASE TABLE"}
        assert con.execute("SELECT snapshot_id, year FROM navsnap_info").fetchall() == [
            (m.snapshot_id, 2029)
        ]
        assert con.execute(QUERY).fetchall() == want
    finally:
        con.close()
    res = invoke_at("attach", m.snapshot_id, "--out", "b.duckdb", "--store", "store", "--json",
                    cwd=work)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["source"] in ("hot", "views")  # in-process fake not seen


def test_attach_writes_views_when_the_clone_does_not_check_out(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from navsnap.analyst import write_attach_file

    fake_clones(monkeypatch)
    m = manifests(work)[2029]
    copy = hot_path(work, m)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    report = write_attach_file(open_store(work / "store"), m, work / "a.duckdb")
    assert report.source == "views" and "yearly" in report.views, report
    assert not list(work.glob(".a.duckdb.navsnap-*")), "temporary left behind"
    con = duckdb.connect(str(work / "a.duckdb"), read_only=True)
    try:
        kind = con.execute("SELECT table_type FROM information_schema.tables"
                           " WHERE table_name = 'yearly'").fetchone()  # fmt: skip
        assert kind == ("VIEW",)
    finally:
        con.close()


def test_attach_writes_views_when_the_clone_is_not_the_snapshots_database(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest naming an intact copy that is not its database (another year's, with that
    copy's own hash): the clone's hash passes, but the check a hot restore makes of the copy
    (objects, catalog, row counts) refuses it, so attach writes the views instead."""
    from navsnap.analyst import write_attach_file

    fake_clones(monkeypatch)
    ms = manifests(work)
    assert ms[2028].hot is not None
    m = dataclasses.replace(ms[2029], hot=ms[2028].hot)
    report = write_attach_file(open_store(work / "store"), m, work / "a.duckdb")
    assert report.source == "views" and "yearly" in report.views, report
    assert not list(work.glob(".a.duckdb.navsnap-*")), "temporary left behind"
    con = duckdb.connect(str(work / "a.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT snapshot_id, year FROM navsnap_info").fetchall() == [
            (m.snapshot_id, 2029)
        ]
    finally:
        con.close()


def test_on_xfs_restore_and_attach_clone_the_copy(xfs_dir: Path) -> None:
    from navsnap.analyst import write_attach_file

    navsnap.run(
        hot_config(1), db=xfs_dir / "sim.duckdb", years=(2025, 2026), store=str(xfs_dir / "s")
    )
    m = manifests_of(xfs_dir / "s")[2026]
    assert m.hot is not None and m.hot.method == "reflink" and m.hot.compression == "none"
    report = navsnap.restore(store=xfs_dir / "s", db=xfs_dir / "sim.duckdb", year=2026,
                             to=xfs_dir / "r.duckdb")  # fmt: skip
    assert report.source == "hot" and report.plan.reason.endswith("(reflink)"), report
    assert table_fingerprints(xfs_dir / "r.duckdb") == table_fingerprints(xfs_dir / "sim.duckdb")
    attached = write_attach_file(open_store(xfs_dir / "s"), m, xfs_dir / "a.duckdb")
    assert attached.source == "hot", attached
    # Writing to the clone leaves the store's copy as it was.
    con = duckdb.connect(str(xfs_dir / "a.duckdb"))
    con.execute("DELETE FROM yearly")
    con.close()
    again = navsnap.restore(store=xfs_dir / "s", db=xfs_dir / "sim.duckdb", year=2026,
                            to=xfs_dir / "r2.duckdb")  # fmt: skip
    assert again.source == "hot", again.hot_fallback


# --------------------------------------------------------------------------- DuckDB started ahead


def _files_opened(calls: list[tuple[str, tuple[object, ...]]]) -> list[object]:
    """The files ``duckdb.connect`` opened (manifest parsing connects in memory, too)."""
    return [args[0] for _thread, args in calls if args and args[0] != ":memory:"]


def _count_connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[object, ...]]]:
    """Record every ``duckdb.connect`` call: (the calling thread's name, its arguments)."""
    import threading

    calls: list[tuple[str, tuple[object, ...]]] = []
    real = duckdb.connect

    def counting(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        calls.append((threading.current_thread().name, args))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(duckdb, "connect", counting)
    return calls


def test_connect_ahead_gives_its_connection_and_closes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from navsnap.ahead import connect_ahead

    calls = _count_connects(monkeypatch)
    with connect_ahead() as ready:
        con = ready()
        assert ready() is con
        assert con.execute("SELECT 42").fetchone() == (42,)
    assert calls == [("navsnap-connect", ())]  # in memory, made in its own thread
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")  # closed on leaving
    with connect_ahead():
        pass  # never asked for: still made, waited for and closed
    assert len(calls) == 2

    def failing(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        raise duckdb.IOException("no instance")

    monkeypatch.setattr(duckdb, "connect", failing)
    with pytest.raises(duckdb.IOException, match="no instance"), connect_ahead() as ready:
        ready()


def test_hot_restore_checks_the_copy_on_the_connection_made_ahead(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hot restore makes one DuckDB instance, in a thread while the copy is written, and
    attaches the copy to it read-only for its checks (it used to open a second instance on
    the copy afterwards); the copy is detached before the swap."""
    calls = _count_connects(monkeypatch)
    report = navsnap.restore(store=work / "store", db=work / "sim.duckdb", year=2029,
                             to=work / "r.duckdb")  # fmt: skip
    assert report.source == "hot", report.hot_fallback
    assert [c for c in calls if c[0] == "navsnap-connect"] == [("navsnap-connect", ())], calls
    assert _files_opened(calls) == [], calls
    assert table_fingerprints(work / "r.duckdb") == table_fingerprints(work / "ref-2029.duckdb")


def test_check_hot_copy_on_a_connection_detaches_the_copy(work: Path) -> None:
    from navsnap.hot import HotUnusable
    from navsnap.restore.build import check_hot_copy

    ms = manifests(work)
    con = duckdb.connect()
    try:
        check_hot_copy(hot_path(work, ms[2029]), ms[2029], con=con)
        with pytest.raises(HotUnusable, match="rows"):  # another year's copy
            check_hot_copy(hot_path(work, ms[2028]), ms[2029], con=con)
        with pytest.raises(HotUnusable, match="does not open"):
            check_hot_copy(work / "absent.duckdb", ms[2029], con=con)
        assert database_names(con) == {"memory", "system", "temp"}
        assert con.execute("SELECT current_database()").fetchone() == ("memory",)
    finally:
        con.close()


def _recording_attach(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool, bool]]:
    """Record each hot.attach_copy: (its quoted alias, whether read-only, whether a fresh
    cursor of the scratch instance sees that alias attached, i.e. whether the copy went to
    that instance)."""
    import navsnap.hot as hot

    seen: list[tuple[str, bool, bool]] = []
    real = hot.attach_copy

    def recording(con: duckdb.DuckDBPyConnection, path: Path, **kw: object) -> str:
        quoted = real(con, path, **kw)  # type: ignore[arg-type]
        on_scratch = quoted.strip('"') in scratch_databases()
        seen.append((quoted, bool(kw.get("read_only", True)), on_scratch))
        return quoted

    monkeypatch.setattr(hot, "attach_copy", recording)
    return seen


def test_attach_checks_and_writes_the_clone_on_the_scratch_instance(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """attach's clone is hashed, then checked and given navsnap_info on one cursor of the
    process's scratch instance, which reading the manifest has made (as under the CLI): no
    DuckDB instance of its own, whose start was a quarter of the time at 100k, and no second
    opening of the clone. Nothing is left attached to the scratch instance."""
    from navsnap import scratch
    from navsnap.analyst import write_attach_file

    fake_clones(monkeypatch)
    m = manifests(work)[2029]
    scratch.cursor().close()
    before = scratch_databases()
    calls = _count_connects(monkeypatch)
    seen = _recording_attach(monkeypatch)
    report = write_attach_file(open_store(work / "store"), m, work / "a.duckdb")
    assert report.source == "hot", report
    assert calls == [], calls  # no DuckDB made, no file opened as a database of its own
    assert len(seen) == 1 and seen[0][2], seen
    assert seen[0][0].startswith('"navsnap_clone_') and not seen[0][1], seen
    assert scratch_databases() == before
    con = duckdb.connect(str(work / "a.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT snapshot_id FROM navsnap_info").fetchall() == [(m.snapshot_id,)]
    finally:
        con.close()
    assert not list(work.glob("a.duckdb.wal")) and not list(work.glob(".a.duckdb.navsnap-*"))


def test_attach_makes_the_scratch_instance_in_a_thread_when_there_is_none(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process with no scratch instance yet (a library caller that read no manifest SQL)
    makes it in the connect thread, while the clone is hashed, and attaches the clone to it."""
    from navsnap import scratch
    from navsnap.analyst import write_attach_file

    fake_clones(monkeypatch)
    m = manifests(work)[2029]
    monkeypatch.setattr(scratch, "_INSTANCE", [])
    calls = _count_connects(monkeypatch)
    seen = _recording_attach(monkeypatch)
    report = write_attach_file(open_store(work / "store"), m, work / "a.duckdb")
    assert report.source == "hot", report
    assert calls == [("navsnap-connect", (":memory:",))], calls
    assert len(seen) == 1 and seen[0][2], seen


def test_a_failed_clone_check_leaves_nothing_on_the_scratch_instance(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone that does not match its snapshot (another year's intact copy) is detached from
    the scratch instance before attach falls back to the views."""
    from navsnap import scratch
    from navsnap.analyst import write_attach_file

    fake_clones(monkeypatch)
    ms = manifests(work)
    scratch.cursor().close()
    before = scratch_databases()
    seen = _recording_attach(monkeypatch)
    m = dataclasses.replace(ms[2029], hot=ms[2028].hot)
    report = write_attach_file(open_store(work / "store"), m, work / "a.duckdb")
    assert report.source == "views", report
    assert len(seen) == 1 and seen[0][2], seen  # it was attached there, and checked
    assert scratch_databases() == before


@pytest.mark.parametrize("beside", [False, True], ids=["inline", "hash-thread"])
def test_the_copy_hashes_every_chunk_it_writes(
    work: Path, monkeypatch: pytest.MonkeyPatch, beside: bool
) -> None:
    """The mmap path, hashing inline and (a large file) in a second thread beside the
    writes: every chunk, the last one short, in order, so the digest is of exactly the bytes
    written (the read() path: the test above)."""
    import navsnap.filecopy as filecopy
    from navsnap.hashing import hash_bytes

    monkeypatch.setattr(filecopy, "_BUF", 4096)
    monkeypatch.setattr(filecopy, "_HASH_BESIDE", 0 if beside else 1 << 30)
    data = os.urandom(5 * 4096 + 77)
    (work / "src.bin").write_bytes(data)
    import threading

    import xxhash

    before = threading.active_count()
    seen: list[str] = []
    real_hash = xxhash.xxh3_128

    class Recording:
        """xxh3-128 that records the thread of each update."""

        def __init__(self) -> None:
            self.real = real_hash()

        def update(self, chunk: memoryview) -> None:
            seen.append(threading.current_thread().name)
            self.real.update(chunk)

        def hexdigest(self) -> str:
            return self.real.hexdigest()

    monkeypatch.setattr(xxhash, "xxh3_128", Recording)
    assert filecopy._copy_hashed(work / "src.bin", work / "dst.bin") == (
        hash_bytes(data),
        len(data),
    )
    assert (work / "dst.bin").read_bytes() == data
    assert len(seen) == 6
    assert all(name.startswith("navsnap-hash") == beside for name in seen), seen
    assert threading.active_count() == before  # the hash thread is gone


def test_sql_and_a_hot_restore_attach_the_copy_in_one_place(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hot.attach_copy is the one home for attaching a hot copy: sql's connection (kept
    attached as navsnap_hot, unchecked) and a hot restore's check (checked_copy) both go
    through it."""
    from navsnap.analyst import connect

    seen = _recording_attach(monkeypatch)
    m = manifests(work)[2029]
    con = connect(open_store(work / "store"), m)
    try:
        assert con.execute("SELECT current_database()").fetchone() == ("navsnap_hot",)
    finally:
        con.close()
    report = navsnap.restore(store=work / "store", db=work / "sim.duckdb", snapshot=m.snapshot_id,
                             to=work / "r.duckdb")  # fmt: skip
    assert report.source == "hot", report.hot_fallback
    # Both read-only, each on a connection of its own (not the scratch instance).
    assert seen == [('"navsnap_hot"', True, False), ('"navsnap_hot_check"', True, False)], seen


def test_attach_copy_of_a_file_that_does_not_open_leaves_nothing_attached(tmp_path: Path) -> None:
    from navsnap.hot import HotUnusable, attach_copy

    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"not a database" * 512)
    con = duckdb.connect()
    try:
        with pytest.raises(HotUnusable, match="does not open"):
            attach_copy(con, bad, alias="navsnap_hot")
        assert con.execute("SELECT current_database()").fetchone() == ("memory",)
        names = database_names(con)
        assert names == {"memory", "system", "temp"}, names
    finally:
        con.close()


def test_sql_answers_from_the_intact_copy_its_manifest_names(work: Path) -> None:
    """What sql does not check (docs/concepts.md): a manifest naming another year's intact
    copy (its own hash) is answered from that copy, where a restore and attach's clone refuse
    it; sql reads what the manifest names, as it reads the Parquet objects it lists."""
    from navsnap.analyst import connect

    ms = manifests(work)
    assert ms[2028].hot is not None
    m = dataclasses.replace(ms[2029], hot=ms[2028].hot)
    con = connect(open_store(work / "store"), m)
    try:
        assert con.execute("SELECT current_database()").fetchone() == ("navsnap_hot",)
        assert con.execute("SELECT max(simulation_year) FROM yearly").fetchone() == (2028,)
    finally:
        con.close()
