#!/usr/bin/env python3
"""Generate the reference pages that must never drift from the code.

- docs/cli.md         from every command's --help
- docs/exit-codes.md  from the exception tree in navsnap/errors.py
- docs/configuration.md from the config dataclasses' metadata

Usage: python scripts/gen_docs.py          (write the files)
       python scripts/gen_docs.py --check  (exit 1 if any file is stale)
tests/test_docs.py runs the check.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from navsnap.cli import cli  # noqa: E402
from navsnap.config import Config  # noqa: E402
from navsnap.errors import all_error_classes  # noqa: E402

#: The terminal width the reference is written for (tests/test_docs.py compares at it).
HELP_COLUMNS = 80


def real_help(*args: str) -> str:
    """What ``navsnap ARGS --help`` prints in an 80-column terminal, through the real entry
    point (so inherited settings such as ``-h`` appear exactly as users see them)."""
    import os
    from contextlib import redirect_stdout
    from io import StringIO

    from navsnap.cli import main

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_COLUMNS)
    out = StringIO()
    try:
        with redirect_stdout(out):
            main([*args, "--help"])
    except SystemExit as exc:
        assert not exc.code, (args, exc.code)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old
    return out.getvalue().rstrip("\n")


def cli_md() -> str:
    parts = [
        "# CLI reference\n",
        "Generated from `--help` by `scripts/gen_docs.py`; `tests/test_docs.py` fails when "
        "this page is stale, or when a block differs by one byte from what `navsnap ... --help` "
        "prints in an 80-column terminal.\n",
        "**Global options** (`--debug`, `-q/--quiet`, `-v/--verbose`, `--json`) may be given "
        "before the subcommand or after it: `navsnap --debug restore --year 2027` and "
        "`navsnap restore --year 2027 --debug` are the same.\n",
        "**Environment variables.** `NAVSNAP_STORE`, `NAVSNAP_DB` and `NAVSNAP_CONFIG` are "
        "the defaults of `--store`, `--db` and `--config`. Precedence, highest first: the "
        "flag, the environment variable, the config file (`[snapshot] store`), the built-in "
        "default (`snapshots/` beside the database; `simulation.duckdb`; `navsnap.toml` in "
        "the working directory if present).\n",
        "**JSON.** Under `--json` every command but `completion` and `--version` prints one JSON "
        "object on stdout, errors "
        "included; [json.md](json.md) lists every key and type.\n",
        "**Ctrl-C** exits 130 with one line that says where the run stopped and the command "
        "that continues it, e.g. `navsnap: interrupted during 2028; continue with: navsnap "
        "run --years 2025-2029 --resume`. The store and database are left as a kill at that "
        "moment would leave them.\n",
        "```text\n" + real_help() + "\n```\n",
    ]
    assert isinstance(cli, click.Group)
    for name in sorted(cli.commands):
        parts.append(f"## navsnap {name}\n")
        parts.append("```text\n" + real_help(name) + "\n```\n")
    return "\n".join(parts)


def exit_codes_md() -> str:
    rows = [
        "| code | error | meaning |",
        "|---|---|---|",
        "| 0 | | success |",
    ]
    for cls in all_error_classes():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        rows.append(f"| {cls.exit_code} | `{cls.__name__}` | {doc} |")
    rows.append(
        "| 1 | (internal) | an unexpected error: a bug; run again with `--debug` and report it |"
    )
    rows.append("| 2 | (click) | also: an unknown option or a missing argument |")
    rows.append(
        "| 130 | | interrupted (Ctrl-C); `run` says where and prints the `--resume` command |"
    )
    rows.append(
        "| 141 | | its output was closed before it was all written (`navsnap list \\| head`): "
        "it stops quietly, as Unix tools do; a `run` stops as after an error (`--resume` "
        "goes on) |"
    )
    return (
        "# Exit codes\n\n"
        "Generated from `navsnap/errors.py` by `scripts/gen_docs.py`. Every error is one line on "
        "stderr, `navsnap: error: <what> (<how to fix it>)`; `--debug` adds the traceback. A "
        "run killed by a signal exits with the signal's status (for example -9 / 137).\n\n"
        + "\n".join(rows)
        + "\n"
    )


def _fields(cls: type, prefix: str) -> list[str]:
    rows: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows.extend(_fields(tp, key))  # type: ignore[arg-type]
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ""
        rng = ""
        if "min" in f.metadata or "max" in f.metadata:
            rng = f"{f.metadata.get('min', '')}..{f.metadata.get('max', '')}"
        tname = str(tp).replace("typing.", "") if not isinstance(tp, type) else tp.__name__
        doc = str(f.metadata.get("doc", "")).replace("|", "\\|")
        rows.append(f"| `{key}` | {tname} | `{default!r}` | {rng} | {doc} |")
    return rows


def configuration_md() -> str:
    head = (
        "# Configuration\n\n"
        "Generated from the config dataclasses by `scripts/gen_docs.py`. The file is TOML "
        "(`--config FILE`, default `navsnap.toml` in the working directory if present). "
        "Unknown keys, wrong types and values out of range are refused with a message naming "
        "the key (exit 3). TOML was chosen because Python 3.11 reads it with the standard "
        "library and it has real integers, floats and booleans.\n\n"
        "The **configuration hash** (lineage) covers `run.seed`, `run.step`, "
        "`run.year_column`, the step's own keys and the content of every file in "
        "`inputs.files`. The step's own keys are every `simulation.*` key for the built-in "
        "simulation, and `step.code` (the hash of the step's module file) for a Python step; "
        "a shell or Python step ignores `[simulation]`, so editing it is not drift for them "
        "(see [steps](steps.md)). Everything else (years, threads, snapshot, retention, "
        "checks) can change between a run and its resume.\n\n"
        'Example:\n\n```toml\n[run]\nyears = "2025-2029"\nseed = 42\n\n[simulation]\n'
        "employees = 100000\n\n[snapshot]\ncompression_level = 3\n\n[checks]\n"
        'active = "SELECT count(*) FROM fct_workforce_snapshot '
        "WHERE simulation_year = $year AND employment_status = 'active'\"\n"
        '\n[inputs]\nfiles = ["models/"]\n```\n\n'
        "| key | type | default | range | meaning |\n|---|---|---|---|---|\n"
    )
    return head + "\n".join(_fields(Config, "")) + "\n"


def api_md() -> str:
    import inspect

    import navsnap

    out = [
        "# Python API\n",
        "Generated from `navsnap.__all__` and its docstrings by `scripts/gen_docs.py`. The CLI is "
        "a thin layer over these functions: each command calls one of them. Options are "
        "keyword-only; errors are the classes in [exit codes](exit-codes.md), all subclasses of "
        "`navsnap.NavsnapError` (and of the matching builtin, e.g. `UsageError(ValueError)`). "
        'Every function that takes a database calls it `db`, and `years` is `"2025-2029"` or '
        "`(2025, 2029)` everywhere; `db_path=` (the old name in `run` and `resume`) still works "
        "with a `DeprecationWarning` and goes away in the next release.\n",
        "```python\nimport navsnap\n\n"
        "cfg = navsnap.load_config()  # ./navsnap.toml if present, else the defaults\n"
        'report = navsnap.run(cfg, db="simulation.duckdb", years="2025-2029")\n'
        'snaps, damaged = navsnap.list_snapshots("snapshots")\n'
        'navsnap.restore(db="simulation.duckdb", year=2027, to="copy.duckdb")\n```\n',
    ]
    functions, classes, errors = [], [], []
    for name in sorted(navsnap.__all__):
        obj = getattr(navsnap, name)
        if name.startswith("__"):
            continue
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            errors.append(name)
        elif inspect.isclass(obj):
            classes.append((name, obj))
        elif callable(obj):
            functions.append((name, obj))
    out.append("## Functions\n")
    for name, obj in functions:
        sig = str(inspect.signature(obj)).replace("'", "")
        doc = inspect.getdoc(obj) or ""
        out.append(f"### `navsnap.{name}`\n\n```python\n{name}{sig}\n```\n\n{doc}\n")
    out.append("## Classes\n")
    for name, obj in classes:
        doc = (inspect.getdoc(obj) or "").split("\n\n")[0]
        out.append(f"- `navsnap.{name}`: {doc}")
    out.append("\n## Errors\n")
    out.append(", ".join(f"`{e}`" for e in errors) + "\n")
    return "\n".join(out)


PAGES = {
    "docs/api.md": api_md,
    "docs/cli.md": cli_md,
    "docs/exit-codes.md": exit_codes_md,
    "docs/configuration.md": configuration_md,
}


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for rel, make in PAGES.items():
        text = make()
        path = ROOT / rel
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(rel)
        else:
            path.write_text(text)
    if stale:
        print("stale: " + ", ".join(stale) + " (run python scripts/gen_docs.py)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
