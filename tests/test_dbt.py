"""A real dbt-duckdb pipeline, pinned to an older DuckDB, driven by ``navsnap run --step``.

The project in tests/dbt_project is shaped like the simulation pipelines navsnap serves:
year-scoped incremental facts built from the year before, a seed, a per-year view whose SQL
names the catalog, a table with PRIMARY KEY and an empty one with UNIQUE, TIMESTAMPTZ audit
columns. It runs in its own environment (``.ci-cache/dbt-env``: dbt-core 1.8, dbt-duckdb 1.8,
DuckDB 1.0.0, and navsnap itself, as a user would install it beside their pipeline). The run
is killed early in a year (inside dbt) and late in a year (after the step, before the
snapshot), resumed, and restored after corruption; each time every table equals an
uninterrupted run's (audit timestamps left out), and every file opens in the pinned DuckDB.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PROJECT = TESTS / "dbt_project"
#: Two years: the second is built from the first, each kill lands in it, and every restore
#: and resume has an earlier year to go back to (each dbt build costs seconds of start-up).
YEARS = "2025-2026"
#: One worker runs these cases when the suite runs in parallel (scripts/check.py): they share
#: the uninterrupted dbt run, which would otherwise be built once per worker.
pytestmark = pytest.mark.xdist_group("dbt")


def dbt_env() -> Path:
    env = Path(os.environ.get("NAVSNAP_DBT_ENV", ROOT / ".ci-cache" / "dbt-env"))
    if not (env / "bin" / "dbt").exists() or not (env / "bin" / "navsnap").exists():
        if os.environ.get("NAVSNAP_REQUIRE_DBT"):
            pytest.fail(f"no dbt environment with navsnap in {env} (.ci/run builds it)")
        pytest.skip(f"no dbt environment with navsnap in {env} (.ci/run builds it)")
    return env


def step(env: Path) -> str:
    """The shell step: one `dbt build` for year {year} into the database navsnap drives (its
    target and log folders come from the environment: the same step in every folder)."""
    dbt = shlex.quote(str(env / "bin" / "dbt"))
    p = shlex.quote(str(PROJECT))
    return (
        f"{dbt} build --project-dir {p} --profiles-dir {p} --vars '{{simulation_year: {{year}}}}'"
    )


def environ(env: Path, work: Path, **extra: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "NAVSNAP_FAULT")
    }
    return {
        **base,
        "PATH": f"{env / 'bin'}:{base.get('PATH', '')}",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
        "DBT_VERSION_CHECK": "false",
        "DBT_TARGET_PATH": str(work / "dbt-target"),
        "DBT_LOG_PATH": str(work / "dbt-logs"),
        # What each build does not need: partial parsing (the vars change every year, so it
        # would parse in full anyway), the JSON artifacts, its own log file.
        "DBT_PARTIAL_PARSE": "false",
        "DBT_WRITE_JSON": "false",
        "DBT_LOG_LEVEL_FILE": "none",
        **extra,
    }


def navsnap(env: Path, work: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env / "bin" / "navsnap"), *args],
        cwd=work,
        env=environ(env, work, **extra),
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def run_args(env: Path) -> list[str]:
    return [
        "run",
        "--years",
        YEARS,
        "--db",
        "sim.duckdb",
        "--store",
        "store",
        "--step",
        step(env),
    ]


def tables(env: Path, db: Path) -> dict[str, Any]:
    """Every table of ``db`` read by the pinned DuckDB (fails if it cannot open the file)."""
    out = subprocess.run(
        [str(env / "bin" / "python"), str(TESTS / "support" / "dbt_tables.py"), str(db)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ(env, db.parent),
    )
    assert out.returncode == 0, f"the pinned DuckDB cannot read {db.name}: {out.stderr[-800:]}"
    return json.loads(out.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder of one uninterrupted run (database and store), shared by every case: the
    cases compare with its tables, or work on a copy of it."""
    env = dbt_env()
    work = tmp_path_factory.mktemp("dbt-ref")
    done = navsnap(env, work, *run_args(env))
    assert done.returncode == 0, done.stderr
    return work


@pytest.fixture(scope="module")
def reference(uninterrupted: Path) -> dict[str, Any]:
    ref = tables(dbt_env(), uninterrupted / "sim.duckdb")
    assert ref["duckdb"] == "1.0.0", "the dbt environment must pin DuckDB 1.0.0"
    assert len(ref["main.fct_workforce"]) > 350 and ref["main.dim_plan_code"] == []
    return ref


def kill_inside_dbt(env: Path, work: Path, year: int) -> None:
    """Start the run and SIGKILL it (navsnap and dbt) while dbt builds ``year``.

    The kill is sent once the year's step log shows dbt running, so it lands inside dbt on a
    fast or a slow machine alike (a dbt build takes seconds; the poll takes milliseconds).
    """
    proc = subprocess.Popen(
        [str(env / "bin" / "navsnap"), *run_args(env)],
        cwd=work,
        env=environ(env, work),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            logs = list((work / "navsnap-logs").glob(f"*-{year}.log"))
            if logs and b"Running with dbt" in logs[0].read_bytes():
                break
            assert proc.poll() is None, "the run ended before dbt started building the year"
            time.sleep(0.02)
        else:
            pytest.fail(f"dbt never started building {year}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_killed_inside_dbt_then_resumed_equals_an_uninterrupted_run(
    reference: dict[str, Any], tmp_path: Path
) -> None:
    env = dbt_env()
    kill_inside_dbt(env, tmp_path, 2026)
    resumed = navsnap(env, tmp_path, *run_args(env), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert tables(env, tmp_path / "sim.duckdb") == reference


def test_killed_after_the_step_then_resumed_equals_an_uninterrupted_run(
    reference: dict[str, Any], tmp_path: Path
) -> None:
    env = dbt_env()
    killed = navsnap(env, tmp_path, *run_args(env), NAVSNAP_FAULT="after-step@2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = navsnap(env, tmp_path, *run_args(env), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert tables(env, tmp_path / "sim.duckdb") == reference


def test_corrupt_database_restored_opens_in_the_pinned_duckdb(
    uninterrupted: Path, reference: dict[str, Any], tmp_path: Path
) -> None:
    env = dbt_env()
    for name in ("sim.duckdb", "store"):  # the uninterrupted run's database and store
        src = uninterrupted / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / name)
    db = tmp_path / "sim.duckdb"
    raw = bytearray(db.read_bytes())
    raw[4096 : 4096 + 8192] = b"\xa5" * 8192  # the database headers and the first blocks
    db.write_bytes(bytes(raw))
    restored = navsnap(
        env, tmp_path, "restore", "--year", "2026", "--db", "sim.duckdb", "--store", "store"
    )
    assert restored.returncode == 0, restored.stderr
    assert tables(env, db) == reference
    copy = navsnap(
        env, tmp_path, "restore", "--year", "2025", "--db", "sim.duckdb", "--store", "store",
        "--to", str(tmp_path / "copy.duckdb"),
    )  # fmt: skip
    assert copy.returncode == 0, copy.stderr
    at_2025 = tables(env, tmp_path / "copy.duckdb")
    assert at_2025["main.dim_plan"] == reference["main.dim_plan"]
    years = {row[0] for row in at_2025["main.fct_workforce"]}
    assert years == {"2025"}
    # the restored database goes on: 2026 again from the end of 2025 gives the same tables
    again = navsnap(
        env, tmp_path, "run", "--years", "2026-2026", "--db", "sim.duckdb", "--store", "store",
        "--step", step(env), "--from-snapshot", "2025",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert tables(env, db) == reference
