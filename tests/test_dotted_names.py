"""Database files whose names hold dots, or share DuckDB's catalog name, in one store.

DuckDB names ``sim.v2.duckdb`` and ``sim.a.duckdb`` ``sim`` (``current_database()`` stops at
the first dot), so each file is told apart by ``database_id`` (its stem), never by the catalog
name. Old manifests record only the catalog name: they keep working for the file they can
only be of, and are refused, never guessed, where they cannot be told apart.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import TOY_STEP, invoke, table_fingerprints, tree_bytes

import navsnap
from navsnap.config import Config, load_config
from navsnap.errors import IntegrityError
from navsnap.hashing import hash_bytes
from navsnap.identity import catalog_name, database_name
from navsnap.manifest import Manifest, canonical_json
from navsnap.retention import RetentionPolicy

NAMES = ("sim.duckdb", "sim.v2.duckdb", ".hidden.duckdb", "hidden.duckdb")


def _cfg() -> Config:
    return load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("dotted")
    runs = {}
    for name in NAMES:
        r = navsnap.run(_cfg(), db=root / name, years=(2025, 2026), store=str(root / "store"))
        runs[name] = r.run_id
    return root, runs


@pytest.fixture
def dotted(built: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root, runs = built
    shutil.copytree(root, tmp_path / "w")
    return tmp_path / "w", runs


def _ids(listing: navsnap.SnapshotListing) -> set[str]:
    return {s.run_id for s in listing.snapshots}


@pytest.mark.parametrize(
    "name",
    ["sim.duckdb", "sim.v2.duckdb", ".hidden.duckdb", "a..b.duckdb", "main.duckdb",
     "temp.db", "system.x.duckdb", "MyDB.duckdb", "noext"],
)  # fmt: skip
def test_catalog_name_is_the_one_duckdb_gives(tmp_path: Path, name: str) -> None:
    con = duckdb.connect(str(tmp_path / name))
    try:
        row = con.execute("SELECT current_database()").fetchone()
    finally:
        con.close()
    assert row is not None
    assert catalog_name(database_name(tmp_path / name)) == row[0]


def test_every_snapshot_records_its_file_and_its_catalog(
    dotted: tuple[Path, dict[str, Any]],
) -> None:
    cwd, runs = dotted
    listing = navsnap.list_snapshots(cwd / "store")
    by_run = {s.run_id: s.database for s in listing.snapshots}
    assert by_run == {runs[n]: database_name(cwd / n) for n in NAMES}
    m = navsnap.show(cwd / "store", f"{runs['sim.v2.duckdb']}-2026")
    assert (m.database_id, m.database_name) == ("sim.v2", "sim")


@pytest.mark.parametrize("name", NAMES)
def test_list_shows_each_file_only_its_own(dotted: tuple[Path, dict[str, Any]], name: str) -> None:
    cwd, runs = dotted
    assert _ids(navsnap.list_snapshots(cwd / "store", db=cwd / name)) == {runs[name]}


@pytest.mark.parametrize("name", ["sim.duckdb", "sim.v2.duckdb", ".hidden.duckdb"])
def test_restore_year_restores_this_file_s_own_snapshot(
    dotted: tuple[Path, dict[str, Any]], name: str
) -> None:
    cwd, runs = dotted
    db = cwd / name
    want = table_fingerprints(db)
    db.write_bytes(b"\0garbage" * 1000)

    code, out, err = invoke("restore", "--year", "2026", "--db", str(db), "--store",
                            str(cwd / "store"))  # fmt: skip

    assert code == 0, err
    assert f"{runs[name]}-2026" in out
    assert table_fingerprints(db) == want


def test_resume_of_a_dotted_name_continues_its_own_chain(
    dotted: tuple[Path, dict[str, Any]],
) -> None:
    cwd, runs = dotted
    db = cwd / "sim.v2.duckdb"
    result = navsnap.run(_cfg(), db=db, years=(2025, 2027), store=str(cwd / "store"),
                         resume=True)  # fmt: skip
    assert [y.year for y in result.years_run] == [2027]
    assert result.moved_aside == ()
    m = navsnap.show(cwd / "store", f"{result.run_id}-2027")
    assert m.parent == f"{runs['sim.v2.duckdb']}-2026"


def test_prune_keeps_each_database_sharing_a_catalog_name(tmp_path: Path) -> None:
    store = tmp_path / "store"
    runs = {}
    for name in ("sim.a.duckdb", "sim.b.duckdb"):
        runs[name] = navsnap.run(_cfg(), db=tmp_path / name, years=(2025, 2026),
                                 store=str(store)).run_id  # fmt: skip

    navsnap.prune(store, policy=RetentionPolicy(keep_last=1), grace_minutes=0)

    left = {s.snapshot_id for s in navsnap.list_snapshots(store).snapshots}
    assert left == {f"{runs['sim.a.duckdb']}-2026", f"{runs['sim.b.duckdb']}-2026"}


# --------------------------------------------------------------------------- old manifests


def _make_old(store: Path, run_id: str) -> None:
    """Rewrite ``run_id``'s manifests as a navsnap before ``database_id`` wrote them."""
    for path in (store / "manifests").glob(f"{run_id}-*.json"):
        doc = json.loads(path.read_bytes())
        doc.pop("integrity")
        doc.pop("database_id")
        doc["integrity"] = hash_bytes(canonical_json(doc))
        path.write_text(json.dumps(doc, indent=2, sort_keys=True))


def test_an_old_manifest_a_dotted_name_may_own_is_refused_not_guessed(
    dotted: tuple[Path, dict[str, Any]],
) -> None:
    """An old 'sim' manifest may be of sim.v2: restore --year for sim.v2 refuses in one line
    naming the snapshot; for sim it is refused too, since sim.v2's new manifests show that
    another file gives the catalog name 'sim'. Named explicitly, it restores."""
    cwd, runs = dotted
    store = cwd / "store"
    old = runs["sim.v2.duckdb"]
    _make_old(store, old)
    # Newer manifests of sim.v2 recording their file (a run after the upgrade, in another
    # directory: the same database to navsnap).
    (cwd / "elsewhere").mkdir()
    navsnap.run(_cfg(), db=cwd / "elsewhere" / "sim.v2.duckdb", years=(2025, 2025),
                store=str(store))  # fmt: skip
    before = tree_bytes(cwd)
    for name in ("sim.v2.duckdb", "sim.duckdb"):
        code, _out, err = invoke("restore", "--year", "2026", "--db", str(cwd / name),
                                 "--store", str(store))  # fmt: skip
        assert code == 2, err
        assert len(err.strip().splitlines()) <= 2 and f"{old}-2026" in err, err
        with pytest.raises(navsnap.UsageError, match="predates recorded database files"):
            navsnap.run(_cfg(), db=cwd / name, years=(2025, 2027), store=str(store),
                        resume=True)  # fmt: skip
        # --from-snapshot YEAR and a checkpoint inheriting the last snapshot's configuration
        # choose by the same rule, and refuse alike, each hint saying how to go on.
        with pytest.raises(navsnap.UsageError, match="predates recorded database") as caught:
            navsnap.run(_cfg(), db=cwd / name, years=(2027, 2028), store=str(store),
                        from_snapshot=2026)  # fmt: skip
        assert caught.value.hint == f"name it: --from-snapshot {old}-2026"
    # (sim.v2's newest certain snapshot, of 2025, is newer than the old one: not sim's.)
    with pytest.raises(navsnap.UsageError, match="predates recorded database") as caught:
        navsnap.checkpoint(db=cwd / "sim.duckdb", year=2026, store=store)
    assert caught.value.hint == "pass the configuration with --config"
    assert tree_bytes(cwd) == before
    # Never listed as either file's, never pruned for either.
    assert old not in _ids(navsnap.list_snapshots(store, db=cwd / "sim.duckdb"))
    assert old not in _ids(navsnap.list_snapshots(store, db=cwd / "sim.v2.duckdb"))
    report = navsnap.prune(store, policy=RetentionPolicy(keep_last=1), dry_run=True)
    kept = {d.snapshot_id for d in report.decisions if d.keep}
    assert f"{old}-2026" in kept

    code, _out, err = invoke("restore", f"{old}-2026", "--db", str(cwd / "sim.v2.duckdb"),
                            "--store", str(store))  # fmt: skip
    assert code == 0, err


def test_an_old_manifest_without_a_catalog_twin_is_the_plain_files(tmp_path: Path) -> None:
    """Old manifests keep working for the file they can only be of: no manifest shows another
    file DuckDB names 'sim', so an old 'sim' manifest is sim.duckdb's; sim.v2 cannot tell
    (an old navsnap recorded it as 'sim' too) and refuses."""
    store = tmp_path / "store"
    run_id = navsnap.run(_cfg(), db=tmp_path / "sim.duckdb", years=(2025, 2026),
                         store=str(store)).run_id  # fmt: skip
    _make_old(store, run_id)
    assert _ids(navsnap.list_snapshots(store, db=tmp_path / "sim.duckdb")) == {run_id}
    code, out, err = invoke("restore", "--year", "2026", "--db", str(tmp_path / "sim.duckdb"),
                            "--store", str(store))  # fmt: skip
    assert code == 0 and f"{run_id}-2026" in out, err
    code, _out, err = invoke("restore", "--year", "2026", "--db",
                             str(tmp_path / "sim.v2.duckdb"), "--store", str(store))  # fmt: skip
    assert code == 2 and f"{run_id}-2026" in err, err


# --------------------------------------------------------------------------- the field


def test_database_id_is_absent_when_unknown_and_checked_when_present(
    dotted: tuple[Path, dict[str, Any]],
) -> None:
    cwd, runs = dotted
    path = cwd / "store" / "manifests" / f"{runs['sim.v2.duckdb']}-2026.json"
    doc = json.loads(path.read_bytes())
    m = Manifest.from_json(path.read_bytes())
    assert "database_id" not in Manifest.from_json(_sealed(doc, None)).to_dict()
    assert m.to_dict()["database_id"] == "sim.v2"
    for bad in (7, "", "a/b", "..", "x\x00y", ["sim"]):
        with pytest.raises(IntegrityError, match="database_id"):
            Manifest.from_json(_sealed(doc, bad))


def _sealed(doc: dict[str, Any], database_id: object) -> bytes:
    doc = dict(doc)
    doc.pop("integrity", None)
    if database_id is None:
        doc.pop("database_id", None)
    else:
        doc["database_id"] = database_id
    doc["integrity"] = hash_bytes(canonical_json(doc))
    return json.dumps(doc).encode()
