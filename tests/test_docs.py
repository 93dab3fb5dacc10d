"""Docs that cannot drift: generated pages, links, the README's two commands, __all__."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import navsnap

ROOT = Path(__file__).resolve().parent.parent


def test_generated_reference_pages_are_current() -> None:
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


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
