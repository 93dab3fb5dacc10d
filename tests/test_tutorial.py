"""docs/tutorial.md, run literally: every ``sh`` block's commands, in order.

Substitutions (the only ones; anything else in a block fails the test):

* sizes: a ``navsnap.toml`` in the working directory sets ``[simulation] employees = 500``
  for the default database, and ``--employees 200000`` becomes ``--employees 800``;
* ``navsnap run ... &`` followed by ``sleep 5; kill -9 %1`` runs that command in a real
  process that navsnap's fault hook kills with SIGKILL right after 2027's step
  (``NAVSNAP_FAULT=after-step@3``), the moment the tutorial aims its ``kill -9`` at;
* ``head -c 1000000 /dev/urandom > simulation.duckdb`` writes 1,000,000 random bytes;
* the install lines (``python3 -m venv ...``, ``mkdir demo && cd demo``) are skipped: the
  test runs in a fresh directory with this checkout installed.

Every other line is a ``navsnap`` command run in-process; it must exit 0, or the code its
comment names (``# exit 10: ...``). The whole page takes about half a minute: it runs the
simulation for 5 + 3 (killed) + 3 (resumed) + 3 (forked) years.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import duckdb
import pytest
from conftest import invoke, run_cli

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"
SCALE = ("--employees 200000", "--employees 800")


def tutorial_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", TUTORIAL.read_text(), re.S)
    return [ln for block in blocks for ln in block.splitlines() if ln.strip()]


def _census_rows(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM census").fetchone()
    finally:
        con.close()
    return int(row[0]) if row else -1


def test_the_tutorial_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "navsnap.toml").write_text("[simulation]\nemployees = 500\n")
    lines = tutorial_lines()
    assert len(lines) > 15
    background: str | None = None
    ran: list[str] = []
    for raw in lines:
        command, _, comment = raw.partition("#")
        command = command.strip().replace(*SCALE)
        if command.startswith(("python3 -m venv", "mkdir demo")):
            continue
        if command.endswith("&"):
            background = command.rstrip("& ")
            continue
        if command.startswith("sleep") and "kill -9 %1" in command:
            assert background is not None, "kill -9 without a background command"
            killed = run_cli(
                *shlex.split(background)[1:],
                cwd=tmp_path,
                env={
                    "NAVSNAP_FAULT": "after-step@3",
                    "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
                },
            )
            assert killed.returncode == -9, killed.stderr
            background = None
            continue
        if command == "head -c 1000000 /dev/urandom > simulation.duckdb":
            (tmp_path / "simulation.duckdb").write_bytes(os.urandom(1_000_000))
            continue
        args = shlex.split(command)
        assert args[0] == "navsnap", f"the test does not know how to run: {raw}"
        expected = re.search(r"exit (\d+)", comment)
        code, out, err = invoke(*args[1:])
        assert code == (int(expected.group(1)) if expected else 0), (raw, out, err)
        ran.append(command)
        if command == "navsnap restore --year 2027":
            # simulation's own 2027 (500 employees), not big's newer 2027 (800)
            assert _census_rows(tmp_path / "simulation.duckdb") == 500
        if "--from-snapshot latest@2026 --seed 7" in command:
            assert "forking lineage" in out
        if command == "navsnap status --years 2025-2029 --seed 7":
            assert out.startswith("run already complete at 2029"), out
        if command == "navsnap status --years 2025-2029":
            assert "not on a chain of this configuration" in err
        if command.startswith("navsnap prune"):
            assert "keep snapshot" in out and "[big/" in out
    assert background is None
    assert "navsnap run --years 2025-2029 --employees 800 --db big.duckdb --resume" in ran
    assert _census_rows(tmp_path / "big.duckdb") == 800
