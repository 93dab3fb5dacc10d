"""Ctrl-C anywhere in ``navsnap run``: exit 130, one line that names the year and the exact
command that continues, and a state that the command then continues from, like a kill.

Each case sends a real SIGINT to a real ``python -m navsnap`` process group (what a terminal
does on Ctrl-C) once the run has observably reached the point under test: inside a DuckDB
query (the step's marker file exists and the query has burnt CPU since), inside a shell step
(its marker exists), or between a step and its snapshot / between two years (the run stopped
itself there with ``NAVSNAP_FAULT=<point>:stall``; SIGINT is sent, then SIGCONT). No case
depends on a delay, so a slow machine cannot make one miss.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from conftest import SUPPORT, TESTS, TOY_STEP, invoke_at, pythonpath, table_fingerprints

import navsnap
from navsnap.config import load_config

YEARS = "2025-2029"
WHERE = ("--db", "sim.duckdb", "--store", "store")
LINE = re.compile(
    r"^navsnap: interrupted (during|after) (\d{4}); continue with: (navsnap run .* --resume)$"
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str]]:
    """The tables of an uninterrupted toy run of 2025-2029."""
    root = tmp_path_factory.mktemp("reference")
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    navsnap.run(cfg, db=root / "sim.duckdb", years=(2025, 2029), snapshots=False)
    return table_fingerprints(root / "sim.duckdb")


#: Process groups started by a test; any still alive when the test ends is SIGKILLed, so a
#: missed interrupt fails the test instead of leaving a query running for hours.
_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _kill_leftovers() -> Iterator[None]:
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


def start(args: tuple[str, ...], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """``navsnap ARGS`` as the leader of its own process group, SIGINT at its default (a
    child of a non-interactive shell may inherit it ignored)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "navsnap", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": pythonpath(TESTS), "PYTHONFAULTHANDLER": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _STARTED.append(proc)
    return proc


def wait_until(proc: subprocess.Popen[str], what: str, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 300
    while not ready():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended (exit {proc.returncode}) before {what}:\n{err}")
        assert time.monotonic() < deadline, f"the run never reached {what}"
        time.sleep(0.05)


def ctrl_c(proc: subprocess.Popen[str], *, stopped: bool = False) -> tuple[int, str, str]:
    """SIGINT to the run's process group (as a terminal sends it); SIGCONT if it stalled."""
    os.killpg(proc.pid, signal.SIGINT)
    if stopped:
        os.killpg(proc.pid, signal.SIGCONT)
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGABRT)  # faulthandler prints every thread's stack
        try:
            _, err = proc.communicate(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"no exit within 180 s of SIGINT; stderr:\n{err}")
    return proc.returncode, out, err


def check_interrupted(
    cwd: Path, code: int, err: str, reference: dict[str, tuple[int, str]]
) -> tuple[str, int]:
    """Exit 130, one line naming the year and the command (stderr is a pipe: no blank line
    before it); that command then completes the run with exactly the tables of an
    uninterrupted one, and the store verifies."""
    assert code == 130, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    match = LINE.match(lines[0])
    assert match, lines[0]
    command = shlex.split(match.group(3))
    assert command[:2] == ["navsnap", "run"] and "--force-restart" not in command
    # The state is one a kill could leave: the store verifies as it is...
    assert invoke_at("verify", "--all", *WHERE, cwd=cwd).returncode == 0
    # ...and the printed command, typed as is, continues the run to its end.
    res = invoke_at(*command[1:], cwd=cwd, env={"NAVSNAP_TEST_MARKER": str(cwd / "marker")})
    assert res.returncode == 0, res.stderr
    assert table_fingerprints(cwd / "sim.duckdb") == reference
    assert invoke_at("verify", "--all", *WHERE, cwd=cwd).returncode == 0
    return match.group(1), int(match.group(2))


def test_ctrl_c_inside_a_duckdb_query(
    tmp_path: Path, reference: dict[str, tuple[int, str]]
) -> None:
    marker = tmp_path / "marker"
    step = ("--step", "interrupt_pipeline:query_step")
    proc = start(
        ("run", "--years", YEARS, *step, *WHERE), tmp_path, {"NAVSNAP_TEST_MARKER": str(marker)}
    )
    # The 2026 snapshot exports in the background while 2027's step runs: wait until it is
    # committed, so that the process's only work left is the query.
    manifests = tmp_path / "store" / "manifests"
    wait_until(
        proc,
        "the long query",
        lambda: marker.exists() and any(manifests.glob("*-2026.json")),
    )
    # Once the process has spent CPU since, the query is running (whatever the speed).
    cpu = psutil.Process(proc.pid)
    spent = sum(cpu.cpu_times()[:2])
    wait_until(proc, "CPU spent in the query", lambda: sum(cpu.cpu_times()[:2]) > spent + 0.3)
    code, _, err = ctrl_c(proc)
    # The query (minutes long) did not finish: the interrupt stopped it. Whether the step's
    # own except block got to note it depends on when Python ran the SIGINT handler.
    assert "the query finished" not in marker.read_text(), marker.read_text()
    assert check_interrupted(tmp_path, code, err, reference) == ("during", 2027)


def test_ctrl_c_inside_a_shell_step(tmp_path: Path, reference: dict[str, tuple[int, str]]) -> None:
    marker = tmp_path / "marker"
    script = SUPPORT / "interrupt_pipeline.py"
    step = ("--step", f"{sys.executable} {script} {{db}} {{year}}")
    proc = start(
        ("run", "--years", YEARS, *step, *WHERE), tmp_path, {"NAVSNAP_TEST_MARKER": str(marker)}
    )
    wait_until(proc, "the sleeping shell step", marker.exists)
    code, _, err = ctrl_c(proc)
    assert check_interrupted(tmp_path, code, err, reference) == ("during", 2027)


@pytest.mark.parametrize(
    ("stall", "year"),
    [
        ("after-step@3", 2027),  # the step of 2027 ran, its snapshot not yet taken
        ("after-manifest@2", None),  # 2026 committed; 2027 may be running alongside
    ],
)
def test_ctrl_c_between_steps_and_years(
    tmp_path: Path, reference: dict[str, tuple[int, str]], stall: str, year: int | None
) -> None:
    args = ("run", "--years", YEARS, "--step", TOY_STEP, *WHERE)
    proc = start(args, tmp_path, {"NAVSNAP_FAULT": f"{stall}:stall"})
    status = psutil.Process(proc.pid)
    wait_until(proc, stall, lambda: status.status() == psutil.STATUS_STOPPED)
    code, _, err = ctrl_c(proc, stopped=True)
    when, at = check_interrupted(tmp_path, code, err, reference)
    if year is not None:
        assert (when, at) == ("during", year)
    else:
        assert 2026 <= at <= 2027


def test_on_a_terminal_the_line_starts_below_the_echoed_ctrl_c(tmp_path: Path) -> None:
    # A terminal echoes ^C where the cursor is: the line goes on the next one. (Through a
    # pipe, as in the cases above, stderr is that one line alone.)
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": pythonpath(TESTS), "NAVSNAP_FAULT": "after-step@2:stall"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "navsnap", "run", "--years", YEARS, "--step", TOY_STEP, *WHERE],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    os.close(follower)
    _STARTED.append(proc)
    status = psutil.Process(proc.pid)
    wait_until(proc, "the stall", lambda: status.status() == psutil.STATUS_STOPPED)
    os.killpg(proc.pid, signal.SIGINT)
    os.killpg(proc.pid, signal.SIGCONT)
    assert proc.wait(timeout=180) == 130
    text = b""
    with contextlib.suppress(OSError):  # EIO once the follower is closed and drained
        while chunk := os.read(leader, 65536):
            text += chunk
    os.close(leader)
    assert re.search(rb"\r?\nnavsnap: interrupted during 2026; continue with: ", text), text


def test_the_printed_command_keeps_the_options_and_drops_restart_flags() -> None:
    from navsnap.cli.interrupt import continue_command

    assert continue_command(["-q", "run", "--years", "2025-2029", "--force-restart"]) == (
        "navsnap -q run --years 2025-2029 --resume"
    )
    assert (
        continue_command(
            ["run", "--years", "2027-2029", "--from-snapshot", "2026", "--step", "dbt run"]
        )
        == "navsnap run --years 2027-2029 --step 'dbt run' --resume"
    )
    assert continue_command(["run", "--from-snapshot=2026", "--resume"]) == ("navsnap run --resume")


def test_a_restart_stopped_before_its_first_snapshot_is_continued_by_restarting() -> None:
    """Ctrl-C in ``run --force-restart`` before a year of the new run was snapshotted: the
    printed --resume would continue the old chain, or refuse a changed configuration with
    exit 10 (hostile-input review); the command to give is the same one again."""
    from navsnap.cli.interrupt import continue_command

    restart = ["run", "--years", "2025-2040", "--force-restart"]
    assert (
        continue_command(restart, progressed=False)
        == "navsnap run --years 2025-2040 --force-restart"
    )
    fork = ["run", "--years", "2027-2029", "--from-snapshot", "2026", "--seed", "7"]
    assert continue_command(fork, progressed=False) == "navsnap " + " ".join(fork)
    assert continue_command(["run", "--years", "2025-2029"], progressed=False) == (
        "navsnap run --years 2025-2029 --resume"
    )
