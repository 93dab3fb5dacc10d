"""Every `navsnap ...` example in README.md, docs/ and the commands' --help runs.

Each page's examples (and each command's help examples) run in order, in-process, against
their own copy of a demo folder: the built-in simulation at 200 employees (its navsnap.toml;
the examples use the defaults otherwise), run 2025-2029 (run A), then re-run for 2027-2028 from
the 2026 snapshot (run B), with the tag `baseline` on A's 2027 snapshot. Substitutions, the
only ones: the snapshot ids written in the docs (`20261127T103500Z-3f2a-2027`, `RUN-2027`,
`RUN1-2027`, `<snapshot>`) become A's snapshot of that year, and `RUN2-...` /
`20261128T090000Z-77c1-...` B's; a run id without a year becomes A's run id (B's for
`...-77c1`); `/tmp/` becomes the test's folder. Python files a page
shows (`# step.py`, `# mypackage/model.py`) are written where the page says.

An example runs unless it matches one of TEMPLATES, each with the reason it cannot run here
(an S3 bucket, dbt, a shell construct). docs/tutorial.md is run by its own test.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
from conftest import invoke

import navsnap
from navsnap.cli import cli

ROOT = Path(__file__).resolve().parent.parent

#: Examples that cannot run in a test, and why. Each must still match some example.
TEMPLATES = {
    r"s3://": "needs an S3 bucket (tests/test_s3.py runs the same commands on a local S3 server)",
    r"dbt run": "needs a dbt project (tests/test_dbt.py runs one)",
    r"/mnt/|/data/": "paths on the reader's machine",
    r"&\s*$|\$\(|^eval ": "a shell construct (background job, command substitution)",
    r"~/": "writes into the home folder",
    r"--step mypackage\.": "the reader's own module (docs/steps.md shows one, and runs it)",
}
#: Pages whose examples run elsewhere.
ELSEWHERE = {"tutorial.md": "tests/test_tutorial.py runs the tutorial's sequence"}


def page_examples() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for lang, body in re.findall(r"```(\w*)\n(.*?)```", page.read_text(), flags=re.S):
            if lang not in ("", "sh", "bash", "console", "shell"):
                continue
            for line in body.splitlines():
                text = line.strip().removeprefix("$ ").strip()
                if text.startswith("navsnap "):
                    out.setdefault(page.name, []).append(text)
    return out


def help_examples() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, command in sorted(cli.commands.items()):
        lines = (command.help or "").split("Example:", 1)[-1].splitlines()
        found = [x.strip() for x in lines if "navsnap " in x and "Example:" in (command.help or "")]
        if found:
            out[f"navsnap {name} --help"] = found
    return out


def template_reason(example: str, files: dict[str, str] | None = None) -> str | None:
    """Why ``example`` cannot run here, or None. A step module the page itself shows
    (``files``) runs."""
    for pattern, why in TEMPLATES.items():
        if re.search(pattern, example):
            shown = files and any(f.split("/")[0] in example for f in files)
            return None if shown else why
    return None


def page_files(page: str) -> dict[str, str]:
    """Python files a page shows, by the path in their first comment line (``# step.py``)."""
    path = ROOT / ("README.md" if page == "README.md" else f"docs/{page}")
    if not path.is_file():
        return {}
    blocks = re.findall(r"```python\n# ([\w/]+\.py)\n(.*?)```", path.read_text(), flags=re.S)
    return dict(blocks)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    (root / "navsnap.toml").write_text("[simulation]\nemployees = 200\n")
    cfg = navsnap.load_config(root / "navsnap.toml")
    db = root / "simulation.duckdb"
    store = root / "snapshots"
    a = navsnap.run(cfg, db=db, years="2025-2029", store=store)
    navsnap.run(cfg, db=db, years="2027-2028", store=store, from_snapshot=2026)
    a2027 = next(str(y.snapshot_id) for y in a.years_run if y.year == 2027)
    navsnap.tag(store, a2027, "baseline")
    navsnap.tag(store, a2027, "baseline-2027")
    return root


def run_ids(store: Path) -> dict[str, dict[int, str]]:
    """Snapshot ids by year of the store's first run (A) and second run (B)."""
    if not (store / "manifests").is_dir():
        return {"A": {}, "B": {}}
    runs: dict[str, dict[int, str]] = {}
    for s in navsnap.list_snapshots(store).snapshots:
        runs.setdefault(s.run_id, {})[s.year] = s.snapshot_id
    ordered = [runs[r] for r in sorted(runs)]
    return {"A": ordered[0] if ordered else {}, "B": ordered[1] if len(ordered) > 1 else {}}


def substitute(example: str, tmp: Path) -> str:
    store = re.search(r"--store (\S+)", example)
    ids = run_ids(Path(store.group(1) if store else "snapshots"))

    def b_id(m: re.Match[str]) -> str:
        return ids["B"][int(m.group(1))]

    def a_id(m: re.Match[str]) -> str:
        return ids["A"][int(m.group(1) or 2027)]

    text = re.sub(r"\b(?:\d{8}T\d{6}Z-77c1|RUN2)-(\d{4})", b_id, example)
    text = text.replace("<snapshot-b>", ids["A"].get(2028, "?"))
    text = re.sub(r"\b(?:\d{8}T\d{6}Z-[0-9a-f]{4}|RUN1?)-(\d{4})", a_id, text)
    text = re.sub(r"<snapshot(?:-a)?>", lambda m: ids["A"].get(2027, "?"), text)
    # A bare run id (a run with --year, a run id prefix): B's for -77c1, else A's.
    run_of = {k: next(iter(v.values()), "?-0").rpartition("-")[0] for k, v in ids.items()}
    text = re.sub(r"\b\d{8}T\d{6}Z-77c1\b(?!-\d)", run_of["B"], text)
    text = re.sub(r"\b\d{8}T\d{6}Z-[0-9a-f]{4}\b(?!-\d)", run_of["A"], text)
    return text.replace("/tmp/", f"{tmp}/")


def starts_fresh(examples: list[str]) -> bool:
    """A page (or help) that starts with a plain ``run`` starts from an empty folder."""
    first = next((e for e in examples if template_reason(e) is None), "")
    return first.startswith("navsnap run ") and not re.search(r"--resume|--from-snapshot", first)


def expected_code(example: str) -> int:
    """0, or the code the example's own comment announces (``# exit 1 when they differ``)."""
    m = re.search(r"#.*\bexit (\d+)", example)
    return int(m.group(1)) if m else 0


ALL = {**{p: ex for p, ex in page_examples().items() if p not in ELSEWHERE}, **help_examples()}


@pytest.mark.parametrize("source", sorted(ALL))
def test_examples_run(
    source: str, demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "demo"
    if starts_fresh(ALL[source]):
        work.mkdir()
        shutil.copy(demo / "navsnap.toml", work)
    else:
        shutil.copytree(demo, work)
    for rel, text in page_files(source).items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    monkeypatch.chdir(work)
    monkeypatch.syspath_prepend(str(work))  # a page's module:function step
    # a page's `python step.py` is this interpreter
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    ran = 0
    files = page_files(source)
    for example in ALL[source]:
        if template_reason(example, files) is not None:
            continue
        line = substitute(example, tmp_path)
        words = shlex.split(line, comments=True)
        out_file = None
        if ">" in words:
            at = words.index(">")
            words, out_file = words[:at], words[at + 1]
        code, out, err = invoke(*words[1:])
        want = expected_code(example)
        if "--exit-code" in words and want and code == 0:
            want = 0  # two equal snapshots: nothing differs
        assert code == want, f"{source}: {example}\n-> {line}\n{err}"
        if out_file:
            Path(out_file).write_text(out)
        ran += 1
    assert ran or all(template_reason(e) for e in ALL[source])


def test_every_template_pattern_is_used_and_every_skipped_example_says_why() -> None:
    examples = [e for ex in ALL.values() for e in ex]
    for pattern in TEMPLATES:
        assert any(re.search(pattern, e) for e in examples), f"unused template {pattern!r}"
    skipped = [e for e in examples if template_reason(e)]
    assert len(skipped) < len(examples) / 3, skipped  # templates stay the exception
