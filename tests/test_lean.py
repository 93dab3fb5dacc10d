"""Lean snapshots: one pass per table for the snapshot's year, older partitions trusted only
under a step's contract and a row-count check, a deep snapshot every ``deep_every``; and the
fsyncs a snapshot pays (docs/concepts.md, Lean snapshots; docs/format.md, fsyncs)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import navsnap
from navsnap.config import Config, load_config
from navsnap.index import read_all
from navsnap.manifest import GLOBAL, Manifest, PartitionKey
from navsnap.snapshot import SnapshotJob, SnapshotOptions, new_run_id, take_snapshot
from navsnap.steps import YearContract, parse_step
from navsnap.store import open_store
from navsnap.yearpass import Baseline

LEAN_STEP = "lean_pipeline:step"

# The simulation's aggregates as they were computed before the one-pass form: the exact
# grouping queries, the oracle the lean values must equal.
_ORACLE = {
    "snap": "SELECT count(*) FILTER (WHERE employment_status = 'active'), count(*), "
    "coalesce(sum(total_compensation), 0)::VARCHAR, "
    "coalesce(sum(prorated_annual_compensation), 0)::VARCHAR, "
    "(count(*) - count(DISTINCT employee_id))::BIGINT "
    "FROM fct_workforce_snapshot WHERE simulation_year = $year",
    "events": "SELECT event_type, count(*) FROM fct_yearly_events WHERE simulation_year = $year "
    "GROUP BY event_type ORDER BY event_type",
    "dups": "SELECT coalesce(sum(n - 1), 0)::BIGINT FROM (SELECT count(*) AS n "
    "FROM fct_yearly_events WHERE simulation_year = $year "
    "GROUP BY employee_id, simulation_year, event_type, effective_date HAVING count(*) > 1)",
}


def _oracle(con: duckdb.DuckDBPyConnection, year: int) -> dict[str, Any]:
    args = {"year": year}
    snap = con.execute(_ORACLE["snap"], args).fetchone()
    assert snap is not None
    events = {str(k): int(n) for k, n in con.execute(_ORACLE["events"], args).fetchall()}
    dups = con.execute(_ORACLE["dups"], args).fetchone()
    assert dups is not None
    return {
        "workforce_count": int(snap[0]),
        "snapshot_rows": int(snap[1]),
        "total_compensation": str(snap[2]),
        "total_prorated_compensation": str(snap[3]),
        "duplicate_snapshot_rows": int(snap[4]),
        "event_type_distribution": events,
        "duplicate_event_count": int(dups[0]),
    }


def _fingerprints(m: Manifest) -> dict[tuple[str, str | None], str]:
    return {
        (t.name, p.year.to_json()): p.fingerprint.as_str() for t in m.tables for p in t.partitions
    }


def _live_fingerprints(db: Path, m: Manifest) -> dict[tuple[str, str | None], str]:
    """What a deep snapshot of ``db`` records (into a throw-away store)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        deep = take_snapshot(
            con,
            store=open_store(db.parent / "deep-store"),
            year=m.year,
            run_id=new_run_id(),
            config=m.config.to_dict(),
            options=SnapshotOptions(),
        )
    finally:
        con.close()
    return _fingerprints(deep)


@pytest.fixture
def spy_jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[SnapshotJob]]:
    """Every snapshot job the run finishes, to see what it fingerprinted and trusted."""
    jobs: list[SnapshotJob] = []
    finish = SnapshotJob._finish

    def recording(self: SnapshotJob) -> Manifest:
        jobs.append(self)
        return finish(self)

    monkeypatch.setattr(SnapshotJob, "_finish", recording)
    yield jobs


def test_a_lean_snapshot_records_exactly_what_the_full_computation_does(
    tmp_path: Path, sim_config: Callable[..., Config]
) -> None:
    config = sim_config(300)
    db, store = tmp_path / "sim.duckdb", open_store(tmp_path / "store")
    navsnap.run(config, db=db, years="2025-2027", store=store)
    con = duckdb.connect(str(db))
    # Make the exact queries matter: duplicated events (some with a NULL type) in 2027.
    con.execute(
        "INSERT INTO fct_yearly_events SELECT * FROM fct_yearly_events "
        "WHERE simulation_year = 2027 ORDER BY ALL LIMIT 5"
    )
    con.execute("ALTER TABLE fct_yearly_events ALTER event_type DROP NOT NULL")
    con.execute(
        "INSERT INTO fct_yearly_events SELECT * REPLACE (NULL AS event_type) "
        "FROM fct_yearly_events WHERE simulation_year = 2027 ORDER BY ALL LIMIT 2"
    )
    step = parse_step("builtin")
    prior = max(read_all(store)[0], key=lambda m: m.year)
    options = SnapshotOptions(step=step)
    kw: dict[str, Any] = {"year": 2027, "config": prior.config.to_dict(), "options": options}
    shutil.copytree(tmp_path / "store", tmp_path / "lean")  # the older objects are stored
    lean = SnapshotJob.start(
        con,
        store=open_store(tmp_path / "lean"),
        run_id=new_run_id(),
        baseline=Baseline(prior, YearContract()),
        **kw,
    )
    lean_manifest = lean.finish()
    full = take_snapshot(con, store=open_store(tmp_path / "full"), run_id=new_run_id(), **kw)
    oracle = _oracle(con, 2027)
    con.close()
    # The year's partitions were scanned, every older one taken from the baseline.
    assert all(k.year == "2027" for t, k in lean.scanned if t != "fct_yearly_events")
    assert {(t, k.year) for t, k in lean.trusted} >= {
        ("fct_workforce_snapshot", "2025"),
        ("fct_workforce_snapshot", "2026"),
        ("census", ""),
    }
    # a table whose columns changed is not trusted
    assert ("fct_yearly_events", "2025") in {(t, k.year) for t, k in lean.scanned}
    assert _fingerprints(lean_manifest) == _fingerprints(full)
    assert [(t.name, t.rows) for t in lean_manifest.tables] == [
        (t.name, t.rows) for t in full.tables
    ]
    assert lean_manifest.validation == full.validation
    assert oracle["duplicate_event_count"] >= 5 and "None" in oracle["event_type_distribution"]
    assert {k: lean_manifest.validation[k] for k in oracle} == oracle


def test_no_partition_is_fingerprinted_twice_in_a_run_or_after_a_resume(
    tmp_path: Path, sim_config: Callable[..., Config], spy_jobs: list[SnapshotJob]
) -> None:
    config = sim_config(200, **{"snapshot.deep_every": 10})
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(config, db=db, years="2025-2027", store=store)
    navsnap.run(config, db=db, years="2025-2029", store=store, resume=True)
    scanned = [(t, k) for job in spy_jobs for t, k in job.scanned]
    assert len(scanned) == len(set(scanned))
    # the resume checked the database against 2027's snapshot: 2028's trusts what it checked
    after_resume = spy_jobs[3]
    assert after_resume.year == 2028
    assert {k.year for _t, k in after_resume.scanned} == {"2028"}
    manifests = sorted(read_all(open_store(store))[0], key=lambda m: m.year)
    assert _fingerprints(manifests[-1]) == _live_fingerprints(db, manifests[-1])


@pytest.mark.parametrize("how", ["delete", "update"])
def test_a_step_breaking_its_contract_is_caught_by_the_row_counts_or_the_deep_snapshot(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spy_jobs: list[SnapshotJob],
    how: str,
) -> None:
    """The step declares the contract, then changes a 2025 row while running 2026."""
    monkeypatch.setenv("LEAN_BREAK", f"{how}:2026")
    config = load_config(
        overrides={
            "run.step": LEAN_STEP,
            "run.step_contract": True,
            "snapshot.deep_every": 3,
        },
        search_cwd=False,
    )
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(config, db=db, years="2025-2028", store=store)
    manifests = sorted(read_all(open_store(store))[0], key=lambda m: m.year)
    deep = [job.baseline is None for job in spy_jobs]
    assert deep == [True, False, False, True]  # 2025 (first), 2028 (every 3rd)
    changed = ("yearly", "2025")
    live = _live_fingerprints(db, manifests[-1])
    if how == "delete":
        # a row fewer: the cheap check of 2026's snapshot sees it and fingerprints the year
        assert changed in [(t, k.year) for t, k in spy_jobs[1].scanned]
        assert _fingerprints(manifests[1])[changed] == live[changed]
    else:
        # same row count: the lean snapshots trust the old value (the contract's risk) ...
        assert _fingerprints(manifests[1])[changed] != live[changed]
        assert _fingerprints(manifests[1])[changed] == _fingerprints(manifests[0])[changed]
    # ... and the deep snapshot records the database as it is
    assert _fingerprints(manifests[-1]) == live


@pytest.mark.parametrize("how", ["delete", "update"])
def test_without_a_contract_every_snapshot_catches_an_edit_of_an_older_year(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spy_jobs: list[SnapshotJob], how: str
) -> None:
    monkeypatch.setenv("LEAN_BREAK", f"{how}:2026")
    config = load_config(
        overrides={"run.step": LEAN_STEP, "snapshot.deep_every": 100}, search_cwd=False
    )
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(config, db=db, years="2025-2026", store=store)
    assert all(job.baseline is None and not job.trusted for job in spy_jobs)
    manifests = sorted(read_all(open_store(store))[0], key=lambda m: m.year)
    assert _fingerprints(manifests[-1]) == _live_fingerprints(db, manifests[-1])


def test_the_builtin_simulation_declares_the_contract_and_other_steps_only_by_config() -> None:
    plain = load_config(search_cwd=False)
    assert parse_step("builtin").contract(plain) == YearContract()
    assert parse_step("shell:true").contract(plain) is None
    declared = load_config(
        overrides={"run.step_contract": True, "run.step_rewrites": ["dim_region"]},
        search_cwd=False,
    )
    assert parse_step("shell:true").contract(declared) == YearContract(
        rewrites=frozenset({"dim_region"})
    )


def _fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths passed to os.fsync from now on (resolved through /proc/self/fd)."""
    seen: list[str] = []
    real = os.fsync

    def counting(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return seen


def test_a_snapshot_fsyncs_each_new_object_once_each_folder_once_then_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    store = open_store(root)
    store.ensure_writable()
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    con.execute(
        "CREATE TABLE y AS SELECT range % 3 + 2025 AS simulation_year, range AS v FROM range(30)"
    )
    store.write_bytes_atomic("objects/00/keep", b"")  # folders existing before are not created
    seen = _fsynced(monkeypatch)
    m = take_snapshot(
        con, store=store, year=2027, run_id=new_run_id(), config={}, options=SnapshotOptions()
    )
    con.close()
    objects = [p.object.key for t in m.tables for p in t.partitions]
    assert len(objects) == 3
    folders = {str((root / k).parent) for k in objects}
    created = folders - {str(root / "objects/00")}
    # each object's bytes once (staged under tmp/, then renamed into place)
    assert sum("/tmp/" in p and p.endswith(".parquet") for p in seen) == 3
    # each object folder once, plus objects/ once per folder this snapshot created
    assert sorted(p for p in seen if p in folders) == sorted(folders)
    assert seen.count(str(root / "objects")) == len(created)
    # the manifest (written under tmp/, linked into place) and its folder, last
    assert seen[-1] == str(root / "manifests")
    # the store root once: manifests/ is new in this store
    assert seen.count(str(root)) == 1
    assert len(seen) == 3 + len(folders) + len(created) + 2 + 1
    assert not any("/locks/" in p for p in seen)  # the writer marker is not fsynced


def test_a_run_probes_its_store_without_an_fsync(
    tmp_path: Path, toy_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    open_store(root).ensure_writable()
    seen = _fsynced(monkeypatch)
    navsnap.run(toy_config, db=tmp_path / "sim.duckdb", years="2025-2026", store=str(root))
    inside = [os.path.relpath(p, root) for p in seen if p.startswith(str(root))]
    assert not any("probe" in p or p.startswith("locks") for p in inside)
    assert seen.count(str(root / "manifests")) == 2  # one commit per year


def test_a_checkpoint_outside_a_run_is_always_deep(
    tmp_path: Path, sim_config: Callable[..., Config], spy_jobs: list[SnapshotJob]
) -> None:
    """navsnap did not see the step that wrote the year: nothing vouches for older years."""
    config = sim_config(200)
    db, store = tmp_path / "sim.duckdb", str(tmp_path / "store")
    navsnap.run(config, db=db, years="2025-2026", store=store, snapshots=False)
    navsnap.checkpoint(db=db, year=2026, store=store, config=config)
    job = spy_jobs[-1]
    assert job.baseline is None and not job.trusted
    assert ("fct_yearly_events", "2025") in {(t, k.year) for t, k in job.scanned}


def test_a_trusted_partition_whose_object_is_gone_is_fingerprinted_from_the_rows_exported(
    tmp_path: Path, toy_config: Config
) -> None:
    """The export then reads the live rows, so the manifest must carry their fingerprint,
    even when a step broke its contract and they differ from the baseline's."""
    db, store = tmp_path / "sim.duckdb", open_store(tmp_path / "store")
    navsnap.run(toy_config, db=db, years="2025-2026", store=store)
    prior = max(read_all(store)[0], key=lambda m: m.year)
    gone = prior.table("yearly").partition(PartitionKey.of_year("2025"))
    assert gone is not None
    (tmp_path / "store" / gone.object.key).unlink()  # as if pruned
    con = duckdb.connect(str(db))
    con.execute("UPDATE yearly SET pay = pay + 1 WHERE simulation_year = 2025 AND person_id = 7")
    job = SnapshotJob.start(
        con,
        store=store,
        year=2026,
        run_id=new_run_id(),
        config=prior.config.to_dict(),
        options=SnapshotOptions(),
        baseline=Baseline(prior, YearContract()),
    )
    m = job.finish()
    con.close()
    assert ("yearly", PartitionKey.of_year("2025")) in job.scanned
    assert ("people", GLOBAL) in job.trusted  # the others stay trusted
    assert _fingerprints(m) == _live_fingerprints(db, m)


def test_a_whole_file_snapshot_is_always_deep(tmp_path: Path, toy_config: Config) -> None:
    db, store = tmp_path / "sim.duckdb", open_store(tmp_path / "store")
    navsnap.run(toy_config, db=db, years="2025-2025", store=store)
    prior = read_all(store)[0][-1]
    con = duckdb.connect(str(db))
    job = SnapshotJob.start(
        con,
        store=store,
        year=2025,
        run_id=new_run_id(),
        config=prior.config.to_dict(),
        options=SnapshotOptions(mode="file"),
        db_path=db,
        baseline=Baseline(prior, YearContract()),
    )
    job.finish()
    con.close()
    assert job.baseline is None and not job.trusted


def test_with_the_hot_tier_every_snapshot_is_deep_so_copy_and_parquet_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spy_jobs: list[SnapshotJob]
) -> None:
    """A hot copy holds the live year-end rows; a lean manifest could describe a partition as
    the previous snapshot had it (a step that updates an older year in place, keeping the
    counts). So a snapshot that keeps a hot copy is deep, and a restore from the copy and
    one from the Parquet give the same tables."""
    monkeypatch.setenv("LEAN_BREAK", "update:2026")
    config = load_config(
        overrides={
            "run.step": LEAN_STEP,
            "run.step_contract": True,
            "snapshot.deep_every": 100,
            "snapshot.hot": 2,
        },
        search_cwd=False,
    )
    db, store = tmp_path / "sim.duckdb", tmp_path / "store"
    navsnap.run(config, db=db, years="2025-2027", store=str(store))
    assert [job.baseline is None and not job.trusted for job in spy_jobs] == [True] * 3
    manifests = sorted(read_all(open_store(store))[0], key=lambda m: m.year)
    assert manifests[-1].hot is not None
    assert _fingerprints(manifests[-1]) == _live_fingerprints(db, manifests[-1])
    hot = navsnap.restore(store=store, db=db, year=2027, to=tmp_path / "hot.duckdb")
    assert hot.source == "hot"
    (store / manifests[-1].hot.object.key).write_bytes(b"damaged")
    cold = navsnap.restore(store=store, db=db, year=2027, to=tmp_path / "cold.duckdb")
    assert cold.source != "hot"
    assert _live_fingerprints(tmp_path / "hot.duckdb", manifests[-1]) == _live_fingerprints(
        tmp_path / "cold.duckdb", manifests[-1]
    )


def test_step_rewrites_names_a_table_or_the_snapshot_is_deep(
    tmp_path: Path, spy_jobs: list[SnapshotJob]
) -> None:
    """``main.people`` and ``people`` name the same global table; a name that is no table
    (a typo) cannot say what the step rewrites, so nothing is trusted."""

    def run(rewrites: list[str], name: str) -> list[SnapshotJob]:
        config = load_config(
            overrides={
                "run.step": LEAN_STEP,
                "run.step_contract": True,
                "run.step_rewrites": rewrites,
                "snapshot.deep_every": 100,
            },
            search_cwd=False,
        )
        before = len(spy_jobs)
        navsnap.run(config, db=tmp_path / f"{name}.duckdb", years="2025-2027",
                    store=str(tmp_path / name))  # fmt: skip
        return spy_jobs[before:]

    typo = run(["peopel"], "typo")
    assert [job.baseline is None and not job.trusted for job in typo] == [True] * 3
    qualified = run(["main.people"], "qualified")
    assert [job.baseline is None for job in qualified] == [True, False, False]
    for job in qualified[1:]:
        assert ("people", GLOBAL) not in job.trusted
        assert ("people", GLOBAL) in job.scanned
        assert job.trusted  # the older years of the year-scoped tables still are
