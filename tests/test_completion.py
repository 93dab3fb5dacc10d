"""navsnap completion: the scripts click generates, and the protocol they call back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import invoke, invoke_at


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_the_shell(shell: str) -> None:
    code, out, err = invoke("completion", shell)
    assert code == 0, err
    assert "_NAVSNAP_COMPLETE" in out and f"{shell}_complete" in out


def test_the_bash_script_loads_and_registers_navsnap() -> None:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash here")
    script = invoke("completion", "bash")[1]
    res = subprocess.run(
        [bash, "-c", f"{script}\ncomplete -p navsnap"], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "navsnap" in res.stdout


def complete(words: str, tmp_path: Path) -> list[str]:
    """What the shell script asks ``navsnap`` for, answered by the real entry point."""
    parts = words.split(" ")
    res = invoke_at(
        cwd=tmp_path,
        env={
            "_NAVSNAP_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(parts) - 1),
        },
    )
    assert res.returncode == 0, res.stderr
    return [line.split(",", 1)[1] for line in res.stdout.splitlines()]


def test_commands_options_and_choices_complete(tmp_path: Path) -> None:
    assert complete("navsnap res", tmp_path) == ["restore"]
    assert "--year" in complete("navsnap restore --ye", tmp_path)
    assert complete("navsnap completion f", tmp_path) == ["fish"]
    assert "--debug" in complete("navsnap list --de", tmp_path)
