"""The JSON contract: under --json every outcome, errors included, is one JSON object on
stdout (the one-line message stays on stderr), and docs/json.md lists every key and type
of the real output."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke_at

from navsnap.cli.outcome import SCHEMA_VERSION


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with a toy run of 2025-2026 (database and store)."""
    cwd = tmp_path_factory.mktemp("json")
    res = invoke_at("-q", "run", "--years", "2025-2026", "--step", TOY_STEP, cwd=cwd)
    assert res.returncode == 0, res.stderr
    return cwd


def error_object(res: subprocess.CompletedProcess[str]) -> dict[str, object]:
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
    res = invoke_at(
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
    res = invoke_at(*(["--json", *args] if where == "before" else [*args, "--json"]), cwd=demo)
    assert res.returncode == 7
    assert error_object(res)["kind"] == "SnapshotNotFound"
    res = invoke_at("--json", "list", "--no-such-option", cwd=demo)
    assert res.returncode == 2
    error = error_object(res)
    assert error["kind"] == "UsageError" and error["param"] == "--no-such-option"


def test_a_command_that_printed_its_report_adds_no_second_object(demo: Path) -> None:
    objects = sorted((demo / "snapshots" / "objects").rglob("*.parquet"))
    victim = objects[-1]
    data = victim.read_bytes()
    victim.write_bytes(b"x" + data[1:])
    try:
        res = invoke_at("verify", "--json", cwd=demo)
    finally:
        victim.write_bytes(data)
    assert res.returncode == 14
    report = json.loads(res.stdout)  # one object: the report, which names the damage
    assert report["problems"] and report["schema_version"] == SCHEMA_VERSION


# --------------------------------------------------------------------------- docs/json.md

DOC = Path(__file__).resolve().parent.parent / "docs" / "json.md"


def documented() -> dict[str, dict[str, tuple[set[str], bool]]]:
    """Section -> key -> (types, expanded?) from the tables of docs/json.md."""
    out: dict[str, dict[str, tuple[set[str], bool]]] = {}
    section = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
            out[section] = {}
        match = re.match(r"^\| `([^`]+)` \| ([^|]*(?:\\\|[^|]*)*) \|", line)
        if section and match:
            cell = match.group(2).replace("\\|", "|")
            opaque = "not expanded" in cell
            types = set(cell.replace("(not expanded)", "").strip().split("|"))
            out[section][match.group(1)] = ({t.strip() for t in types}, not opaque)
    return out


def json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "str", int: "int", float: "float"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return names[type(value)]


def observed(values: list[object], doc: dict[str, tuple[set[str], bool]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}

    def walk(value: object, path: str) -> None:
        if path:
            out.setdefault(path, set()).add(json_type(value))
            if path in doc and not doc[path][1]:
                return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif isinstance(value, list):
            for item in value:
                walk(item, f"{path}[]")

    for value in values:
        walk(value, "")
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[object]]:
    """Real --json output of each documented command, in the scenarios that fill its keys."""
    cwd = tmp_path_factory.mktemp("contract")
    step = ("--step", TOY_STEP)

    def j(*args: str, code: int = 0) -> object:
        res = invoke_at(*args, "--json", cwd=cwd)
        assert res.returncode == code, res.stderr
        return json.loads(res.stdout)

    out: dict[str, list[object]] = {}
    out["run"] = [j("run", "--years", "2025-2026", *step)]
    out["run"].append(j("run", "--years", "2025-2027", *step, "--resume"))
    # --resume over a lost database: a restore (of 2027's end, the last year: none to run).
    (cwd / "simulation.duckdb").write_bytes(b"not a database\n" * 64)
    out["run"].append(j("run", "--years", "2025-2027", *step, "--resume"))
    out["status"] = [j("status", "--years", "2025-2028", *step)]
    out["checkpoint"] = [j("checkpoint", "--year", "2027")]
    out["list"] = [j("list")]
    out["info"] = [j("info")]
    first = out["list"][0]["snapshots"][0]["snapshot_id"]  # type: ignore[index]
    out["show"] = [j("show", first)]
    out["restore"] = [j("restore", "--year", "2026", "--dry-run")]
    second = out["list"][0]["snapshots"][1]["snapshot_id"]  # type: ignore[index]
    out["diff"] = [j("diff", first, second), j("diff", first, first)]
    out["tag"] = [j("tag", first, "t1"), j("untag", "t1")]
    out["attach"] = [j("attach", first, "--out", "views.duckdb")]
    out["verify"] = [j("verify")]
    out["unlock"] = [j("unlock")]
    out["prune"] = [j("prune", "--keep-last", "1", "--dry-run"), j("prune", "--keep-last", "9")]
    victim = sorted((cwd / "snapshots" / "objects").rglob("*.parquet"))[0]
    victim.write_bytes(b"x" + victim.read_bytes()[1:])
    out["verify"].append(j("verify", code=14))
    out["error"] = [
        j("status", "--years", "2025-2028", *step, "--seed", "7", code=10),
        j("list", "--no-such-option", code=2),
    ]
    return out


def test_docs_json_lists_every_key_and_type_of_the_real_output(
    outputs: dict[str, list[object]],
) -> None:
    doc = documented()
    assert set(outputs) <= set(doc), set(outputs) - set(doc)
    for command, values in outputs.items():
        keys = doc[command]
        seen = observed(values, keys)
        undocumented = {k: t for k, t in seen.items() if k not in keys}
        assert undocumented == {}, f"{command}: keys missing from docs/json.md"
        wrong = {k: t for k, t in seen.items() if not (t <= keys[k][0] or "any" in keys[k][0])}
        assert wrong == {}, f"{command}: types differ from docs/json.md"
        # A documented key never seen is allowed only inside an array that stayed empty.
        unseen = sorted(k for k in set(keys) - set(seen) if "[]" not in k)
        assert unseen == [], f"{command}: documented keys no output has"
        assert all(v["schema_version"] == SCHEMA_VERSION for v in values)  # type: ignore[index]
