"""The JSON contract: under --json every outcome, errors included, is one JSON object on
stdout; the one-line message stays on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TOY_STEP, run_cli

from navsnap.cli.outcome import SCHEMA_VERSION


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with a toy run of 2025-2026 (database and store)."""
    cwd = tmp_path_factory.mktemp("json")
    res = run_cli("-q", "run", "--years", "2025-2026", "--step", TOY_STEP, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return cwd


def error_object(res: object) -> dict[str, object]:
    out = res.stdout
    err = res.stderr
    data = json.loads(out)  # exactly one JSON document, nothing else on stdout
    assert set(data) == {"schema_version", "error"}
    assert data["schema_version"] == SCHEMA_VERSION
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("navsnap: error: "), err
    error = data["error"]
    assert isinstance(error, dict)
    assert error["code"] == res.returncode
    assert error["message"] in lines[0]
    return error


def test_drift_under_json_is_an_object_on_stdout_with_the_changed_keys(demo: Path) -> None:
    res = run_cli(
        "status", "--years", "2025-2027", "--step", TOY_STEP, "--seed", "7", "--json", cwd=demo
    )
    assert res.returncode == 10
    error = error_object(res)
    assert error["kind"] == "DriftError"
    assert error["changed_keys"] == [{"key": "run.seed", "old": 42, "new": 7}]
    assert error["hint"]


@pytest.mark.parametrize("where", ["before", "after"])
def test_usage_and_not_found_errors_under_json(demo: Path, where: str) -> None:
    args = ["restore", "--year", "2031"]
    res = run_cli(*(["--json", *args] if where == "before" else [*args, "--json"]), cwd=demo)
    assert res.returncode == 7
    assert error_object(res)["kind"] == "SnapshotNotFound"
    res = run_cli("--json", "list", "--no-such-option", cwd=demo)
    assert res.returncode == 2
    error = error_object(res)
    assert error["kind"] == "UsageError" and error["param"] == "--no-such-option"


def test_a_command_that_printed_its_report_adds_no_second_object(demo: Path) -> None:
    objects = sorted((demo / "snapshots" / "objects").rglob("*.parquet"))
    victim = objects[-1]
    data = victim.read_bytes()
    victim.write_bytes(b"x" + data[1:])
    try:
        res = run_cli("verify", "--json", cwd=demo)
    finally:
        victim.write_bytes(data)
    assert res.returncode == 14
    report = json.loads(res.stdout)  # one object: the report, which names the damage
    assert report["problems"] and report["schema_version"] == SCHEMA_VERSION
