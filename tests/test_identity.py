"""Two databases in one store: every selecting command picks this database's snapshots.

``simulation.duckdb`` (500 employees, 2025-2027) and ``big.duckdb`` (800 employees,
2025-2029) share ``snapshots/``; big ran last, so its snapshots are the newest of every year.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke, table_fingerprints, tree_bytes
from test_s3 import bucket, s3, s3_env  # noqa: F401  (the moto S3 server fixtures)

import navsnap
from navsnap.config import load_config


def _cfg(employees: int) -> navsnap.Config:
    return load_config(overrides={"simulation.employees": employees}, search_cwd=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("two-dbs")
    sim = navsnap.run(_cfg(500), db=root / "simulation.duckdb", years=(2025, 2027))
    big = navsnap.run(_cfg(800), db=root / "big.duckdb", years=(2025, 2029))
    return root, {"simulation": sim.run_id, "big": big.run_id}


@pytest.fixture
def two(built: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root, runs = built
    shutil.copytree(root, tmp_path / "w")
    return tmp_path / "w", runs


def test_restore_year_restores_this_database_not_the_newest(
    two: tuple[Path, dict[str, str]],
) -> None:
    cwd, runs = two
    sim = cwd / "simulation.duckdb"
    want = table_fingerprints(sim)
    sim.write_bytes(b"\0garbage" * 1000)

    code, out, err = invoke("restore", "--year", "2027", "--db", str(sim))

    assert code == 0, err
    assert f"{runs['simulation']}-2027" in out
    assert table_fingerprints(sim) == want


def test_a_year_only_another_database_has_is_not_found_and_changes_nothing(
    two: tuple[Path, dict[str, str]],
) -> None:
    cwd, runs = two
    before = tree_bytes(cwd)
    code, _out, err = invoke("restore", "--year", "2029", "--db", str(cwd / "simulation.duckdb"))
    assert code == 7, err
    assert len(err.strip().splitlines()) == 1
    assert "database big has one" in err and f"{runs['big']}-2029" in err
    assert tree_bytes(cwd) == before


def test_another_database_named_explicitly_is_restored_and_said(
    two: tuple[Path, dict[str, str]],
) -> None:
    cwd, runs = two
    code, _out, err = invoke(
        "restore",
        f"{runs['big']}-2027",
        "--db",
        str(cwd / "simulation.duckdb"),
        "--to",
        str(cwd / "copy.duckdb"),
    )
    assert code == 0, err
    assert "from database big" in err
    code, out, err = invoke(
        "sql", f"{runs['big']}-2027", "SELECT 1 AS x", "--db", str(cwd / "simulation.duckdb")
    )
    assert code == 0 and "from database big" in err, err
    # --run takes a run id prefix, within this database
    code, out, err = invoke(
        "restore", "--year", "2026", "--run", runs["simulation"][:18], "--db",
        str(cwd / "simulation.duckdb"), "--to", str(cwd / "copy2.duckdb"), "--dry-run",
    )  # fmt: skip
    assert code == 0 and f"{runs['simulation']}-2026" in out, err
    assert (
        table_fingerprints(cwd / "copy.duckdb")["main.fct_workforce_snapshot"]
        != table_fingerprints(cwd / "simulation.duckdb")["main.fct_workforce_snapshot"]
    )


def test_status_for_a_database_without_snapshots_starts_and_never_drifts(
    two: tuple[Path, dict[str, str]],
) -> None:
    cwd, _runs = two
    # Same configuration as big: big's snapshots are not this database's to restore.
    code, out, err = invoke(
        "status",
        "--years",
        "2025-2029",
        "--employees",
        "800",
        "--db",
        str(cwd / "other.duckdb"),
        "--json",
    )
    assert code == 0, err
    decision = json.loads(out)
    assert decision["action"] == "start" and decision["snapshot"] is None
    # Another configuration: no drift against the other databases' keys.
    code, out, err = invoke(
        "status", "--years", "2025-2029", "--employees", "900", "--db", str(cwd / "other.duckdb")
    )
    assert code == 0, err
    assert "employees" not in out + err and "starting at 2025" in out


def test_status_of_each_database_names_its_own_snapshot(two: tuple[Path, dict[str, str]]) -> None:
    cwd, runs = two
    code, out, err = invoke(
        "status",
        "--years",
        "2025-2029",
        "--employees",
        "500",
        "--db",
        str(cwd / "simulation.duckdb"),
    )
    assert code == 0, err
    assert f"{runs['simulation']}-2027" in out and "continuing with 2028" in out
    code, out, err = invoke(
        "status", "--years", "2025-2029", "--employees", "800", "--db", str(cwd / "big.duckdb")
    )
    assert code == 0, err
    assert out.strip().startswith("run already complete at 2029"), out


def test_latest_and_year_refs_resolve_within_the_database(two: tuple[Path, dict[str, str]]) -> None:
    cwd, runs = two
    sim, big = str(cwd / "simulation.duckdb"), str(cwd / "big.duckdb")

    def shown(*args: str) -> str:
        code, out, err = invoke("show", *args, "--json")
        assert code == 0, err
        return str(json.loads(out)["snapshot_id"])

    assert shown("latest", "--db", sim) == f"{runs['simulation']}-2027"
    assert shown("latest", "--db", big) == f"{runs['big']}-2029"
    assert shown("latest@2026", "--db", sim) == f"{runs['simulation']}-2026"
    assert shown("--year", "2026", "--db", sim) == f"{runs['simulation']}-2026"
    # A run id prefix with a year, in any database (named explicitly).
    assert shown(runs["big"][:18], "--year", "2026", "--db", sim) == f"{runs['big']}-2026"
    assert shown(f"{runs['big']}@2028", "--db", sim) == f"{runs['big']}-2028"
    code, _out, err = invoke("show", "latest@2029", "--db", sim)
    assert code == 7 and "database big has one" in err
    code, out, err = invoke("verify", "latest", "--db", big, "--json")
    assert code == 0, err
    assert json.loads(out)["snapshots"] == [f"{runs['big']}-2029"]


def test_a_year_on_a_tag_or_an_id_must_be_its_year(two: tuple[Path, dict[str, str]]) -> None:
    """``good@2025`` or ``<id of 2027>@2025`` names one snapshot of 2027: refused (exit 2,
    nothing restored), as ``--year 2025`` is, never the 2027 snapshot in silence."""
    cwd, runs = two
    sim, out = str(cwd / "simulation.duckdb"), cwd / "x.duckdb"
    of_2027 = f"{runs['simulation']}-2027"
    code, _out, err = invoke("tag", of_2027, "good", "--db", sim)
    assert code == 0, err
    for command in (
        ("restore", "good@2025", "--to", str(out)),
        ("restore", f"{of_2027}@2025", "--to", str(out)),
        ("restore", "good", "--year", "2025", "--to", str(out)),
        ("show", "good@2025"),
        ("sql", f"{of_2027}@2025", "SELECT 1"),
    ):
        code, _out, err = invoke(*command, "--db", sim)
        assert code == 2 and f"{of_2027} is of year 2027, not 2025" in err, (command, err)
    assert not out.exists()
    # A run id with a year still names that run's snapshot of the year.
    code, _out, err = invoke("restore", f"{runs['simulation']}@2025", "--to", str(out), "--db", sim)
    assert code == 0 and f"{runs['simulation']}-2025" in _out, err


def test_sql_attach_tag_diff_take_year_refs(two: tuple[Path, dict[str, str]]) -> None:
    cwd, runs = two
    sim = str(cwd / "simulation.duckdb")
    code, out, err = invoke(
        "sql",
        "latest@2025",
        "SELECT count(*) AS n FROM fct_workforce_snapshot",
        "--db",
        sim,
        "--json",
    )
    assert code == 0, err
    want = navsnap.show(cwd / "snapshots", f"{runs['simulation']}-2025")
    assert json.loads(out)[0]["n"] == next(
        sum(p.rows for p in t.partitions) for t in want.tables if t.name == "fct_workforce_snapshot"
    )
    code, out, err = invoke("tag", "latest", "gold", "--db", sim)
    assert code == 0 and f"{runs['simulation']}-2027" in out, err
    code, out, err = invoke("list", "--tag", "gold", "--db", sim, "--json")
    assert code == 0, err
    assert [x["snapshot_id"] for x in json.loads(out)["snapshots"]] == [
        f"{runs['simulation']}-2027"
    ]
    code, out, err = invoke(
        "attach", runs["simulation"], "--year", "2026", "--out", str(cwd / "a.duckdb"), "--db", sim
    )
    assert code == 0 and f"{runs['simulation']}-2026" in out, err
    code, out, err = invoke(
        "diff", runs["simulation"], runs["big"], "--year", "2026", "--db", sim, "--json"
    )
    assert code == 0, err
    d = json.loads(out)
    assert (d["a"]["snapshot_id"], d["b"]["snapshot_id"]) == (
        f"{runs['simulation']}-2026",
        f"{runs['big']}-2026",
    )


def test_a_tag_cannot_take_a_run_ids_name_and_hijack_its_years(
    two: tuple[Path, dict[str, str]],
) -> None:
    cwd, runs = two
    sim = str(cwd / "simulation.duckdb")
    before = tree_bytes(cwd)
    for name in (runs["big"], f"{runs['big']}-2026"):
        code, _out, err = invoke("tag", f"{runs['simulation']}-2025", name, "--db", sim)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "shape of a run id" in lines[0], err
    assert tree_bytes(cwd) == before
    code, out, err = invoke("show", f"{runs['big']}@2026", "--db", sim, "--json")
    assert code == 0 and json.loads(out)["snapshot_id"] == f"{runs['big']}-2026", err
    # such a tag written before navsnap refused it still resolves as before, and can go
    navsnap.open_store(cwd / "snapshots").write_tag(runs["big"], f"{runs['simulation']}-2025")
    assert navsnap.show(cwd / "snapshots", runs["big"]).snapshot_id == f"{runs['simulation']}-2025"
    code, _out, err = invoke("untag", runs["big"], "--db", sim)
    assert code == 0, err


def test_a_tag_cannot_take_the_name_of_a_run_id_chosen_by_hand(
    two: tuple[Path, dict[str, str]],
) -> None:
    """checkpoint --run nightly: a run id of no fixed shape. A tag 'nightly' would answer
    nightly@2027, so it is refused by the store's own run ids."""
    cwd, runs = two
    sim = str(cwd / "simulation.duckdb")
    code, _out, err = invoke("checkpoint", "--year", "2027", "--run", "nightly", "--db", sim)
    assert code == 0, err
    before = tree_bytes(cwd)
    for name in ("nightly", "nightly-2027"):
        code, _out, err = invoke("tag", f"{runs['simulation']}-2025", name, "--db", sim)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "is the id of a run or snapshot" in lines[0], err
    assert tree_bytes(cwd) == before
    code, out, err = invoke("show", "nightly@2027", "--db", sim, "--json")
    assert code == 0 and json.loads(out)["snapshot_id"] == "nightly-2027", err


def test_list_shows_and_filters_databases(two: tuple[Path, dict[str, str]]) -> None:
    cwd, runs = two
    code, out, err = invoke("list", "--store", str(cwd / "snapshots"), "--json")
    assert code == 0, err
    snaps = json.loads(out)["snapshots"]
    assert {s["database"] for s in snaps} == {"simulation", "big"}
    assert all(len(s["lineage"]) == 8 for s in snaps)
    code, out, err = invoke("list", "--db", str(cwd / "big.duckdb"), "--year", "2026")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["SNAPSHOT", "YEAR", "DATABASE", "LINEAGE"]
    assert [ln.split()[0] for ln in lines[1:]] == [f"{runs['big']}-2026"]
    code, out, err = invoke(
        "list", "--store", str(cwd / "snapshots"), "--run", runs["simulation"][:18], "--json"
    )
    assert code == 0, err
    assert [s["year"] for s in json.loads(out)["snapshots"]] == [2025, 2026, 2027]


def test_two_databases_in_one_s3_store_restore_their_own(
    tmp_path: Path,
    bucket: str,  # noqa: F811
) -> None:
    """The same selection on an s3:// store (a real S3 API server, moto)."""
    url = f"s3://{bucket}/shared"
    sim, big = tmp_path / "simulation.duckdb", tmp_path / "big.duckdb"
    toy = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    other = load_config(overrides={"run.step": "rollback_pipeline:step"}, search_cwd=False)
    mine = navsnap.run(toy, db=sim, years=(2025, 2027), store=url)
    navsnap.run(other, db=big, years=(2025, 2028), store=url)
    want = table_fingerprints(sim)
    assert want != table_fingerprints(big)
    sim.write_bytes(b"\0garbage" * 1000)

    code, out, err = invoke("restore", "--year", "2027", "--db", str(sim), "--store", url)

    assert code == 0, err
    assert f"{mine.run_id}-2027" in out
    assert table_fingerprints(sim) == want
    code, _out, err = invoke("restore", "--year", "2028", "--db", str(sim), "--store", url)
    assert code == 7 and "database big has one" in err
    code, out, err = invoke("status", "--years", "2025-2028", "--step", TOY_STEP, "--db",
                            str(sim), "--store", url)  # fmt: skip
    assert code == 0 and "continuing with 2028" in out, (out, err)
