"""Docs that cannot drift: generated pages, links, the README's two commands, __all__."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import navsnap

ROOT = Path(__file__).resolve().parent.parent


def gen_docs() -> Any:
    """scripts/gen_docs.py as a module (run in-process: it renders help through the real
    entry point, ``navsnap.cli.main``)."""
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_reference_pages_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert gen_docs().main(["--check"]) == 0, capsys.readouterr().out


def test_every_local_link_resolves() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)} -> {target}")
    assert missing == []


def quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_readme_quick_start_has_exactly_two_commands_and_ci_runs_the_second() -> None:
    commands = quick_start_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert "navsnap run --years 2025-2029" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci.splitlines()


def test_public_api_all_is_explicit_and_importable() -> None:
    assert sorted(navsnap.__all__) == sorted(set(navsnap.__all__))
    for name in navsnap.__all__:
        assert hasattr(navsnap, name), name
    public = {n for n in dir(navsnap) if not n.startswith("_") and n[0].islower()}
    modules = {n for n in public if type(getattr(navsnap, n)).__name__ == "module"}
    assert public - modules <= set(navsnap.__all__), public - modules - set(navsnap.__all__)


#: Help pages also checked through a real ``python -m navsnap`` process: the in-process
#: rendering (every page, above and below) must be what the installed command prints.
REAL_PROCESS_HELP = ("", "run")


def test_cli_reference_is_byte_for_byte_the_real_help() -> None:
    """Each block of docs/cli.md is what ``navsnap ... --help`` prints at 80 columns."""
    from navsnap.cli import cli

    text = (ROOT / "docs" / "cli.md").read_text()
    blocks = re.findall(r"```text\n(.*?)\n```", text, flags=re.S)
    names = ["", *sorted(cli.commands)]
    assert len(blocks) == len(names)
    real_help = gen_docs().real_help
    env = {**os.environ, "COLUMNS": "80"}
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "navsnap", *([name] if name else []), "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name in REAL_PROCESS_HELP
    }
    for name, block in zip(names, blocks, strict=True):
        out = real_help(*([name] if name else [])) + "\n"
        assert out == block + "\n", f"docs/cli.md differs from 'navsnap {name} --help'"
        assert "-h, --help" in out
        if name in procs:
            real, err = procs[name].communicate(timeout=120)
            assert procs[name].returncode == 0, err
            assert real == out, f"'python -m navsnap {name} --help' differs from in-process"


def test_hints_name_commands_not_repository_paths() -> None:
    """A pip-installed user has no docs/ folder: a hint must name a command or option."""
    import ast

    bad = []
    for path in sorted((ROOT / "navsnap").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                for const in ast.walk(node.value):
                    value = const.value if isinstance(const, ast.Constant) else None
                    if isinstance(value, str) and (".md" in value or "docs/" in value):
                        bad.append(f"{path.relative_to(ROOT)}: {value}")
    assert bad == []


def python_examples(page: Path) -> list[str]:
    """The ``python`` blocks of ``page`` that use the navsnap API (``import navsnap``)."""
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S)
    return [b for b in blocks if b.startswith("import navsnap\n")]


def test_python_api_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API examples of README.md and docs/api.md run as written in a fresh folder.

    The one substitution: a navsnap.toml that makes the simulation small (the examples read
    ./navsnap.toml when present), so the test is fast.
    """
    examples = python_examples(ROOT / "README.md") + python_examples(ROOT / "docs" / "api.md")
    assert len(examples) == 2
    for i, code in enumerate(examples):
        folder = tmp_path / str(i)
        folder.mkdir()
        (folder / "navsnap.toml").write_text("[simulation]\nemployees = 200\n")
        monkeypatch.chdir(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            exec(compile(code, f"example-{i}", "exec"), {})
        assert (folder / "simulation.duckdb").is_file()
        assert navsnap.list_snapshots("snapshots").snapshots


def test_api_parameter_names_are_consistent(tmp_path: Path) -> None:
    """Every function taking a database calls it ``db``; ``db_path`` still works, warning."""
    import inspect

    for fn in (navsnap.run, navsnap.restore, navsnap.status, navsnap.checkpoint):
        assert "db" in inspect.signature(fn).parameters, fn.__name__
    cfg = navsnap.load_config(overrides={"simulation.employees": 50}, search_cwd=False)
    db = tmp_path / "old.duckdb"
    with pytest.warns(DeprecationWarning, match=r"db_path=\.\.\.\) is deprecated"):
        report = navsnap.run(cfg, db_path=db, years="2025-2025", snapshots=False)
    assert report.db_path == str(db)
    with pytest.raises(navsnap.UsageError, match="both db and db_path"):
        navsnap.run(cfg, db=db, db_path=db, years=(2025, 2025))
    decision = navsnap.status(cfg, db=db, years=(2025, 2026))
    assert decision == navsnap.status(cfg, db=db, years="2025-2026")
