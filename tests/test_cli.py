"""The command line: exit codes, one-line errors, nothing created on bad input."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TOY_STEP, run_cli, tree_bytes

from navsnap.cli import cli


def one_line_error(res: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["run", "--years", "2029-2025"], 2, "run backwards"),
        (["run", "--years", "abc"], 2, "not of the form A-B"),
        (["run", "--config", "missing.toml"], 3, "does not exist"),
        (["run", "--config", "bad.toml"], 3, "not valid TOML"),
        (["run", "--config", "unknown.toml"], 3, "unknown config key 'run.colour'"),
        (["run", "--db", "adir"], 4, "is a directory"),
        (["run", "--step", "no_such_module_xyz:step"], 3, "cannot be imported"),
        (["run", "--step", "toy_pipeline:nosuch"], 3, "has no function"),
        (["run", "--resume", "--force-restart"], 2, "contradict"),
        (["run", "--employees", "0"], 3, "simulation.employees"),
        (["restore"], 2, "say which snapshot"),
        (["restore", "--year", "2025"], 7, "no navsnap store"),
        (["list", "--store", "ftp2://x"], 6, "unknown store scheme"),
        (["checkpoint", "--year", "2025", "--db", "nope.duckdb"], 4, "does not exist"),
    ],
)
def test_bad_input_gives_one_line_and_changes_nothing(
    tmp_path: Path, args: list[str], code: int, needle: str
) -> None:
    (tmp_path / "bad.toml").write_text("[run\n")
    (tmp_path / "unknown.toml").write_text("[run]\ncolour = 'red'\n")
    (tmp_path / "adir").mkdir()
    before = tree_bytes(tmp_path)
    res = run_cli(*args, cwd=tmp_path)
    assert res.returncode == code, (res.returncode, res.stderr)
    line = one_line_error(res)
    assert needle in line
    assert line.startswith("navsnap: error:")
    assert tree_bytes(tmp_path) == before
    assert not (tmp_path / "simulation.duckdb").exists()
    assert not (tmp_path / "snapshots").exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    res = run_cli("--debug", "run", "--years", "abc", cwd=tmp_path)
    assert res.returncode != 0 and "Traceback" in res.stderr


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True
        )
        if r.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs here (root ignores file modes)")
        try:
            yield d
        finally:
            subprocess.run(["umount", str(d)], check=False)
    else:
        d.chmod(0o500)
        yield d
        d.chmod(0o700)


def test_unwritable_database_directory(tmp_path: Path, readonly_dir: Path) -> None:
    res = run_cli("run", "--db", str(readonly_dir / "sim.duckdb"), cwd=tmp_path)
    assert res.returncode == 4
    assert "not writable" in one_line_error(res)


def test_failing_step_names_year_status_and_log(tmp_path: Path) -> None:
    res = run_cli(
        "run",
        "--years",
        "2025-2028",
        "--step",
        "sh -c 'echo model says no >&2; exit 3'",
        cwd=tmp_path,
    )
    assert res.returncode == 5
    line = one_line_error(res)
    assert "year 2025" in line and "status 3" in line and ".log" in line
    log = next((tmp_path / "navsnap-logs").glob("*-2025.log"))
    assert "model says no" in log.read_text()


def test_failing_python_step_names_the_exception(tmp_path: Path) -> None:
    res = run_cli(
        "run", "--years", "2025-2028", "--step", "toy_pipeline:failing_step", cwd=tmp_path
    )
    assert res.returncode == 5
    line = one_line_error(res)
    assert "year 2027" in line and "RuntimeError: boom in the model" in line
    assert "2026" in res.stdout  # the years before the failure were reported and kept


def test_shell_step_gets_year_and_db(tmp_path: Path) -> None:
    script = tmp_path / "step.py"
    script.write_text(
        "import duckdb, sys\n"
        "db, year = sys.argv[1], int(sys.argv[2])\n"
        "c = duckdb.connect(db)\n"
        "c.execute('CREATE TABLE IF NOT EXISTS t (simulation_year INTEGER, v INTEGER)')\n"
        "c.execute('INSERT INTO t VALUES (?, ?)', [year, year * 2])\n"
    )
    import sys

    step = f"{sys.executable} {script} {{db}} {{year}}"
    res = run_cli("run", "--years", "2025-2027", "--step", step, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2027" in res.stdout
    listing = run_cli("list", "--json", cwd=tmp_path)
    import json

    years = [s["year"] for s in json.loads(listing.stdout)["snapshots"]]
    assert years == [2025, 2026, 2027]


def test_quiet_prints_nothing_on_success(tmp_path: Path) -> None:
    res = run_cli("-q", "run", "--years", "2025-2026", "--step", TOY_STEP, cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    for name, command in cli.commands.items():
        res = runner.invoke(cli, [name, "--help"])
        assert res.exit_code == 0, name
        assert "Example:" in res.output, f"{name} --help has no example"
        assert command.help, name


def test_every_command_takes_the_common_options() -> None:
    for name, command in cli.commands.items():
        opts = {o for p in command.params for o in getattr(p, "opts", [])}
        assert {"--json", "--store", "--db", "--config"} <= opts, name


def test_every_command_has_a_python_api_function() -> None:
    import navsnap

    api_for = {
        "run": "run",
        "status": "status",
        "checkpoint": "checkpoint",
        "list": "list_snapshots",
        "show": "show",
        "restore": "restore",
        "verify": "verify_store",
        "diff": "diff_snapshots",
        "prune": "prune",
        "tag": "tag",
        "untag": "untag",
        "sql": "sql",
        "attach": "attach",
    }
    assert set(api_for) == set(cli.commands)
    assert callable(navsnap.resume) and navsnap.resume.__module__ == "navsnap.api"
    for fn in api_for.values():
        assert fn in navsnap.__all__ and callable(getattr(navsnap, fn)), fn
