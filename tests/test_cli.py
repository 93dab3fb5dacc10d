"""The command line: exit codes, one-line errors, nothing created on bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TOY_STEP, invoke, invoke_at, pythonpath, run_cli, tree_bytes

from navsnap.cli import cli

ROOT = Path(__file__).resolve().parent.parent


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
    res = invoke_at(*args, cwd=tmp_path)
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
    res = invoke_at("run", "--db", str(readonly_dir / "sim.duckdb"), cwd=tmp_path)
    assert res.returncode == 4
    line = one_line_error(res)
    assert "directory" in line and "not writable" in line  # the folder, not the file


def test_failing_step_names_year_status_and_log(tmp_path: Path) -> None:
    res = invoke_at(
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
    res = invoke_at(
        "run", "--years", "2025-2028", "--step", "toy_pipeline:failing_step", cwd=tmp_path
    )
    assert res.returncode == 5
    line = one_line_error(res)
    assert "year 2027" in line and "RuntimeError: boom in the model" in line
    assert "2026" in res.stdout  # the years before the failure were reported and kept


@pytest.mark.parametrize(
    ("step", "year", "says"),
    [
        ("toy_pipeline:exiting_step", "2026", "called sys.exit(0)"),
        ("toy_pipeline:closing_step", "2025", "left navsnap's connection unusable"),
    ],
)
def test_a_python_step_that_exits_or_closes_its_connection_is_a_step_error(
    tmp_path: Path, step: str, year: str, says: str
) -> None:
    """sys.exit(0) in a step ended navsnap with exit 0 and no message; a closed connection
    was an internal error."""
    res = invoke_at("run", "--years", "2025-2027", "--step", step, cwd=tmp_path)
    assert res.returncode == 5
    line = one_line_error(res)
    assert f"year {year}" in line and says in line


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
    res = invoke_at("run", "--years", "2025-2027", "--step", step, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2027" in res.stdout
    listing = invoke_at("list", "--json", cwd=tmp_path)
    years = [s["year"] for s in json.loads(listing.stdout)["snapshots"]]
    assert years == [2025, 2026, 2027]


def test_quiet_prints_nothing_on_success(tmp_path: Path) -> None:
    res = invoke_at("-q", "run", "--years", "2025-2026", "--step", TOY_STEP, cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    for name, command in cli.commands.items():
        res = runner.invoke(cli, [name, "--help"])
        assert res.exit_code == 0, name
        assert "Example:" in res.output, f"{name} --help has no example"
        assert command.help, name


#: Commands that never touch a store or database (shell completion).
NO_STORE = {"completion"}


def test_every_command_takes_the_common_options() -> None:
    for name, command in cli.commands.items():
        if name in NO_STORE:
            continue
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
        "info": "info",
        "prune": "prune",
        "tag": "tag",
        "untag": "untag",
        "sql": "sql",
        "attach": "attach",
        "unlock": "unlock",
    }
    assert set(api_for) == set(cli.commands) - NO_STORE
    assert callable(navsnap.resume) and navsnap.resume.__module__ == "navsnap.api"
    for fn in api_for.values():
        assert fn in navsnap.__all__ and callable(getattr(navsnap, fn)), fn


# --------------------------------------------------------------------------- global options

GLOBAL_FLAGS = ["--debug", "-q", "--quiet", "-v", "-vv", "--verbose", "--json"]


@pytest.mark.parametrize("flag", GLOBAL_FLAGS)
def test_global_options_are_accepted_before_and_after_every_subcommand(flag: str) -> None:
    for name in cli.commands:
        for args in ([flag, name, "--help"], [name, flag, "--help"]):
            code, out, err = invoke(*args)
            assert code == 0 and "Usage: navsnap" in out, (args, err)


def test_debug_after_the_subcommand_is_not_mistaken_for_another_option(tmp_path: Path) -> None:
    res = invoke_at("restore", "--year", "2035", "--debug", cwd=tmp_path)
    assert res.returncode == 7, res.stderr  # SnapshotNotFound, not a usage error
    assert "Did you mean" not in res.stderr and "Traceback" in res.stderr
    # --debug adds the traceback; the last line and the exit code stay the documented ones.
    assert res.stderr.splitlines()[-1].startswith("navsnap: error: no navsnap store")


def test_debug_keeps_the_exit_code(tmp_path: Path) -> None:
    res = invoke_at("run", "--years", "abc", "--debug", cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" in res.stderr


def test_quiet_after_the_subcommand_prints_nothing_on_success(tmp_path: Path) -> None:
    res = invoke_at("run", "--years", "2025-2026", "--step", TOY_STEP, "--quiet", cwd=tmp_path)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""
    before = invoke_at("--json", "list", cwd=tmp_path)
    after = invoke_at("list", "--json", cwd=tmp_path)
    assert before.returncode == after.returncode == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)


# --------------------------------------------------------------------------- environment


def resolved_store(*args: str) -> str:
    """The store a command resolved (absolute): ``list`` on a missing store names it."""
    code, _, err = invoke("list", *args)
    assert code == 7, err
    match = re.search(r"no navsnap store at '([^']*)'", err)
    assert match, err
    return str((Path.cwd() / match.group(1)).resolve())


def here(name: str) -> str:
    return str((Path.cwd() / name).resolve())


def test_store_precedence_flag_env_config_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolved_store() == here("snapshots")  # default: beside the database
    assert resolved_store("--db", "sub/x.duckdb") == here("sub/snapshots")
    (tmp_path / "navsnap.toml").write_text('[snapshot]\nstore = "from-config"\n')
    assert resolved_store() == here("from-config")
    monkeypatch.setenv("NAVSNAP_STORE", "from-env")
    assert resolved_store() == here("from-env")
    assert resolved_store("--store", "from-flag") == here("from-flag")


def test_db_precedence_flag_env_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    def missing_db(*args: str) -> str:
        code, _, err = invoke("checkpoint", "--year", "2025", *args)
        assert code == 4, err
        match = re.search(r"database '([^']*)' does not exist", err)
        assert match, err
        return match.group(1)

    assert missing_db() == "simulation.duckdb"
    monkeypatch.setenv("NAVSNAP_DB", "env.duckdb")
    assert missing_db() == "env.duckdb"
    assert resolved_store() == here("snapshots")  # the store follows the database
    assert missing_db("--db", "flag.duckdb") == "flag.duckdb"


def test_config_precedence_flag_env_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "navsnap.toml").write_text('[snapshot]\nstore = "cwd-config"\n')
    (tmp_path / "env.toml").write_text('[snapshot]\nstore = "env-config"\n')
    (tmp_path / "flag.toml").write_text('[snapshot]\nstore = "flag-config"\n')
    assert resolved_store() == here("cwd-config")
    monkeypatch.setenv("NAVSNAP_CONFIG", "env.toml")
    assert resolved_store() == here("env-config")
    assert resolved_store("--config", "flag.toml") == here("flag-config")
    monkeypatch.setenv("NAVSNAP_CONFIG", "missing.toml")
    code, _, err = invoke("run")
    assert code == 3 and "missing.toml" in err


def test_error_causes_are_never_cut_mid_word() -> None:
    from navsnap.errors import cause

    text = "Catalog Error: the table fct_workforce_snapshot does not match store manifest entry"
    for width in range(20, len(text) + 5):
        short = cause(RuntimeError(text + "\nsecond line"), width=width)
        assert len(short) <= max(width, len(short.split(" ")[0]) + 3)
        body = short.removesuffix("...")
        rest = text[len(body) :]
        assert text.startswith(body) and (rest == "" or not rest[0].isalnum())
        assert short == text if width >= len(text) else short.endswith("...")
    assert cause(RuntimeError("")) == "RuntimeError"
    assert cause(RuntimeError("x" * 300), width=50) == "x" * 300 + "..."  # one word: whole


def test_lazy_command_table_names_every_command_where_it_is_defined() -> None:
    """`navsnap --version` and `status` import only what they run: the table of commands to
    modules must name every command of every commands_*.py module, and nothing else."""
    import importlib
    import pkgutil

    import navsnap.cli as pkg
    from navsnap.cli import COMMAND_MODULES

    defined = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("commands_"):
            module = importlib.import_module(f"navsnap.cli.{info.name}")
            defined.update({c.name: info.name for c in module.COMMANDS})
    assert defined == COMMAND_MODULES


def test_version_imports_neither_duckdb_nor_pyarrow() -> None:
    code = (
        "import sys; from navsnap.cli import main\n"
        "try: main(['--version'])\n"
        "except SystemExit: pass\n"
        "heavy = {'duckdb', 'pyarrow', 'fsspec', 'navsnap.api'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("navsnap, version")


def test_the_installed_command_imports_a_python_step_from_the_current_directory(
    tmp_path: Path,
) -> None:
    """The ``navsnap`` console script has no current directory on ``sys.path`` (``python -m``
    has): a step module beside the user still imports, and an installed module of the same
    name would win (the directory is searched last)."""
    pkg = tmp_path / "mystep"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.py").write_text(
        "def run_year(con, year, config):\n"
        "    con.execute('CREATE TABLE IF NOT EXISTS t (simulation_year INTEGER, v INTEGER)')\n"
        "    con.execute('INSERT INTO t VALUES (?, 1)', [year])\n"
    )
    # -P: no current directory on sys.path, as under the console script's launcher.
    script = "import sys; from navsnap.cli import main; sys.exit(main())"
    args = ["run", "--years", "2025-2026", "--step", "mystep.model:run_year", "--db", "t.duckdb"]
    res = subprocess.run(
        [sys.executable, "-P", "-c", script, *args],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": pythonpath()},
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "snapshots" / "manifests").iterdir())[-1].endswith(
        "-2026.json"
    )


def _closed_stdout(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``navsnap ARGS`` whose stdout is a pipe nobody reads any more (``| head`` gone)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "navsnap", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": pythonpath()},
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        os.close(write)


def test_a_closed_output_pipe_ends_the_command_quietly_with_141(tmp_path: Path) -> None:
    """``navsnap list | head``: the reader leaves, navsnap stops as a Unix tool does (exit
    141, 128 + SIGPIPE, nothing on stderr), not with click's silent exit 1 (a bug's code).
    A run stopped that way loses nothing: the store verifies and --resume goes on."""
    run = _closed_stdout("run", "--years", "2025-2026", "--employees", "100", cwd=tmp_path)
    assert (run.returncode, run.stderr) == (141, "")
    listed = _closed_stdout("list", cwd=tmp_path)
    assert (listed.returncode, listed.stderr) == (141, "")
    verify = run_cli("verify", "--all", cwd=tmp_path)
    assert verify.returncode == 0, verify.stderr
    resumed = run_cli("run", "--years", "2025-2026", "--employees", "100", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr


def test_control_characters_from_a_store_or_a_database_are_escaped(tmp_path: Path) -> None:
    """A table name, a value or a snapshot reference holding terminal escapes (clear the
    screen, set the title, rewrite a line) is printed as ``\\xNN``: in tables, in error lines.
    ``sql --csv`` gives the rows as they are, and JSON escapes them itself."""
    import duckdb

    import navsnap
    from navsnap.config import load_config

    evil = "evil\x1b[2J\x1b]0;title\x07\r"
    db = tmp_path / "simulation.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f'CREATE TABLE "{evil}" (simulation_year INTEGER, v VARCHAR)')
    con.execute(f'INSERT INTO "{evil}" VALUES (2026, ?)', [evil])
    con.close()
    store = tmp_path / "store"
    navsnap.checkpoint(db=db, year=2026, store=store, config=load_config(search_cwd=False))
    common = ("--db", str(db), "--store", str(store))
    shown = invoke("show", "latest", *common)
    assert shown[0] == 0 and "\x1b" not in shown[1] and "\\x1b]0;title\\x07" in shown[1], shown
    query = f'SELECT v FROM "{evil}"'
    table = invoke("sql", "latest", query, *common)
    assert table[0] == 0 and "\x1b" not in table[1] and "\\x07" in table[1], table
    as_csv = invoke("sql", "latest", query, "--csv", *common)
    assert as_csv[0] == 0 and evil in as_csv[1], as_csv  # the value byte for byte
    as_json = invoke("sql", "latest", query, "--json", *common)
    assert json.loads(as_json[1]) == [{"v": evil}]
    code, _out, err = invoke("show", f"nosuch{evil}", *common)
    assert code == 7 and "\x1b" not in err and "\r" not in err and "\\x1b" in err, err


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("DROP TABLE census", "exactly one SELECT"),
        ("SELECT 1; SELECT 2", "exactly one SELECT"),
        ("UPDATE census SET employee_id = 0", "exactly one SELECT"),
        ("SELECT FROM WHERE (", "does not parse"),
    ],
)
def test_a_check_that_is_not_one_select_is_refused_before_the_first_step(
    tmp_path: Path, sql: str, says: str
) -> None:
    """A check runs on the connection a snapshot reads in: a DROP there would change the
    database being snapshotted. Refused with the config (exit 3, naming the key) before any
    step has run (hostile-input review: the step ran, then the check failed)."""
    (tmp_path / "navsnap.toml").write_text(f"[checks]\nx = {json.dumps(sql)}\n")
    res = invoke_at("run", "--years", "2025-2025", "--employees", "100", cwd=tmp_path)
    assert res.returncode == 3, res.stderr
    assert "checks.x" in res.stderr or "check 'x'" in res.stderr
    assert says in one_line_error(res)
    assert not (tmp_path / "simulation.duckdb").exists()


def test_ctrl_c_while_the_cli_is_imported_is_one_line_and_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in the first tenth of a second (the CLI still importing) printed a traceback
    of the import (hostile-input review); the entry point ends it as one line, exit 130."""
    import types

    from navsnap.__main__ import main as entry

    class Interrupted(types.ModuleType):
        def __getattr__(self, name: str) -> object:
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "navsnap.cli", Interrupted("navsnap.cli"))
    with pytest.raises(SystemExit) as exited:
        entry()
    assert exited.value.code == 130
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1 and err.startswith("navsnap: interrupted") and "Traceback" not in err
    )


def test_an_unreadable_config_is_a_configuration_error(tmp_path: Path) -> None:
    """click's own readability check made it a usage error (exit 2); docs/exit-codes.md
    gives 3. Run as an unprivileged user, for whom file modes hold."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to run as an unprivileged user")
    work = Path(tempfile.mkdtemp(prefix="navsnap-unreadable-", dir="/tmp"))
    try:
        work.chmod(0o777)
        cfg = work / "u.toml"
        cfg.write_text("[run]\nseed = 1\n")
        cfg.chmod(0o000)
        res = subprocess.run(
            [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-m", "navsnap", "list", "--config", str(cfg)],
            cwd=work, capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        )  # fmt: skip
        if "Permission denied" in res.stderr and "navsnap" not in res.stderr:
            pytest.skip(f"the unprivileged user cannot run this interpreter: {res.stderr[:200]}")
        assert res.returncode == 3, res.stderr
        assert "cannot be read" in one_line_error(res)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("unbuffered", ["1", ""])
def test_a_pipe_closed_in_the_middle_of_a_large_write_is_141(
    tmp_path: Path, unbuffered: str
) -> None:
    """``navsnap sql ... --csv | head -1``: the reader leaves while navsnap is blocked in one
    large write. Unbuffered (PYTHONUNBUFFERED, as in many containers) the text layer dropped
    what the pipe did not take and the command ended with 0, its output cut short."""
    made = run_cli("run", "--years", "2025-2025", "--employees", "100", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "navsnap", "sql", "latest",
         "SELECT i, i * 7 AS j FROM range(300000) r(i)", "--csv"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": pythonpath(), "PYTHONUNBUFFERED": unbuffered},
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(100).startswith(b"i,j\n")
    proc.stdout.close()  # while navsnap is blocked writing the rest (more than a pipe holds)
    err = proc.stderr.read()
    assert (proc.wait(timeout=120), err) == (141, b"")


def test_ctrl_c_while_the_options_are_parsed_is_the_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Option callbacks (--json's, --config's) run while click parses; an interrupt there is
    # the same one line, without click's blank line before it (stderr is no terminal here).
    import navsnap.cli as cli_module

    def interrupted(*_args: object) -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_module._LazyGroup, "parse_args", interrupted)
    code, out, err = invoke("list")
    assert (code, out, err) == (130, "", "navsnap: interrupted\n")
