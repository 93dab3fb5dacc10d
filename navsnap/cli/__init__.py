"""The ``navsnap`` command: a thin click layer over :mod:`navsnap.api`.

Each command parses its options, calls one library function and renders the result. Errors
derived from :class:`navsnap.errors.NavsnapError` become one line on stderr and the class's
exit code (under ``--json`` also one JSON object on stdout); ``--debug`` adds the traceback.
Ctrl-C exits 130 wherever it lands (:mod:`navsnap.cli.interrupt`); a closed output pipe
(``| head``) ends the command quietly with 141.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from typing import Any, TextIO

import click

from navsnap._version import __version__
from navsnap.cli.common import State, global_options, json_flag, plain_json_option
from navsnap.cli.outcome import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OUTPUT_CLOSED, describe

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "cli", "main", "printable", "raw_output"]


#: Each command and the module that defines it, imported only when that command runs (or
#: for --help and completion): `navsnap --version` and `status` stay fast to start.
COMMAND_MODULES = {
    "run": "commands_run",
    "status": "commands_run",
    "checkpoint": "commands_run",
    "list": "commands_store",
    "show": "commands_store",
    "restore": "commands_store",
    "info": "commands_store",
    "verify": "commands_maintain",
    "diff": "commands_maintain",
    "prune": "commands_maintain",
    "tag": "commands_maintain",
    "untag": "commands_maintain",
    "unlock": "commands_maintain",
    "sql": "commands_analyst",
    "attach": "commands_analyst",
    "completion": "commands_shell",
}


class _Interrupted(BaseException):
    """Ctrl-C carried past click, which would write a blank line to stderr for a
    ``KeyboardInterrupt`` (to end a terminal's ``^C``) even when stderr is a file or a pipe.
    Raised at the group's boundary, so a step's own ``except KeyboardInterrupt`` still sees
    Python's exception."""


class _LazyGroup(click.Group):
    """A group whose commands are imported when used; ``.commands`` (help, docs, tests) has
    them all."""

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        for module in sorted(set(COMMAND_MODULES.values())):
            _load(module)
        return self._commands

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._commands = dict(value)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        self._commands[name or str(cmd.name)] = cmd

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self._commands) | set(COMMAND_MODULES))

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:  # option callbacks run while parsing (--json's, --config's)
            return super().make_context(info_name, args, parent=parent, **extra)
        except KeyboardInterrupt as exc:
            raise _Interrupted from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Interrupted from exc

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._commands and cmd_name in COMMAND_MODULES:
            _load(COMMAND_MODULES[cmd_name])
        return self._commands.get(cmd_name)


def _load(module_name: str) -> None:
    """Import one command module and add its commands, each with the global options."""
    module = importlib.import_module(f"navsnap.cli.{module_name}")
    for command in module.COMMANDS:
        if command.name in cli._commands:
            continue
        if not any("--json" in getattr(p, "opts", ()) for p in command.params):
            command.params.append(plain_json_option())
        command.params.extend(global_options())
        cli.add_command(command)


@click.group(
    cls=_LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="navsnap")
@json_flag("Print JSON for scripts (errors too).")
@click.pass_context
def cli(ctx: click.Context, as_json: bool) -> None:
    """Recoverable multi-year DuckDB simulations: snapshot every year, restore, resume.

    --json, --debug, -q and -v may also follow the subcommand (navsnap list -q).

    \b
    Example:
      navsnap run --years 2025-2029
      navsnap list
      navsnap restore --year 2027
    """
    ctx.ensure_object(State)


cli.params.extend(global_options())


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _json_requested(args: list[str]) -> bool:
    return "--json" in (args[: args.index("--")] if "--" in args else args)


class _OutputClosed(Exception):
    """stdout's reader went away. Not an OSError: click would turn that into a silent exit 1."""


#: Control characters (all but newline and tab): text from a store or a database (a run id,
#: a table name) could otherwise clear the terminal, set its title or overwrite a line.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


#: Writes of at least this many characters go to stdout's bytes directly (see write()).
_DIRECT_WRITE = 1 << 14


class _GuardedStdout:
    """``sys.stdout`` while a command runs: control characters are escaped (:func:`printable`)
    unless the command asked for its data as it is (:func:`raw_output`: ``sql --csv``), and a
    write to a closed pipe raises :class:`_OutputClosed`; everything else is the stream's own.
    JSON output holds no control character to escape (``json.dumps`` writes them as ``\\u``)."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self.raw = False

    def write(self, text: str) -> int:
        out = text if self.raw else printable(text)
        try:
            binary = getattr(self._inner, "buffer", None)
            if binary is None or len(out) < _DIRECT_WRITE:
                return self._inner.write(out)
            # A large write goes to the bytes below, until every byte is taken: unbuffered
            # (PYTHONUNBUFFERED, python -u), the text layer writes to the file once and drops
            # what a pipe closing mid-write did not take, with no error (`| head`).
            self._inner.flush()
            data = memoryview(out.encode(self._inner.encoding, self._inner.errors or "strict"))
            while data:
                n = binary.write(data)
                data = data[n if n is not None else 0 :]
            binary.flush()
            return len(text)
        except BrokenPipeError:
            raise _OutputClosed from None

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            raise _OutputClosed from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def raw_output() -> None:
    """Write this command's stdout as it is: data the user asked for byte for byte (CSV)."""
    if isinstance(sys.stdout, _GuardedStdout):
        sys.stdout.raw = True


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush finds no closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a file descriptor (a test's buffer)
        pass


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI and map errors to exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    st = State(argv=tuple(args), debug="--debug" in args)
    stdout = sys.stdout
    if stdout is not None:
        sys.stdout = _GuardedStdout(stdout)
    try:
        return _main(args, st)
    except _OutputClosed:
        sys.stdout = stdout
        _quiet_stdout()
        sys.exit(EXIT_OUTPUT_CLOSED)
    finally:
        sys.stdout = stdout


def _main(args: list[str], st: State) -> Any:
    try:
        with st.interrupts.installed():
            try:
                rv = cli.main(args=args, prog_name="navsnap", standalone_mode=False, obj=st)
            except click.exceptions.Exit as exc:
                sys.exit(exc.exit_code)
            if isinstance(rv, int) and rv:
                sys.exit(rv)  # a command's ctx.exit(N): diff --exit-code
            return rv
    except (SystemExit, _OutputClosed):
        raise
    except BaseException as exc:  # every outcome, Ctrl-C included, ends as one line
        if isinstance(exc, _Interrupted):
            exc = exc.__cause__ or KeyboardInterrupt()
            if _isatty(sys.stderr):
                click.echo(err=True)  # after the terminal's ^C, as click does
        where = None
        if st.where is not None:
            try:
                where = st.where()
            except Exception:  # the interrupt line must be printed whatever happens
                where = None
        failure = describe(exc, interrupted=st.interrupts.received, where=where)
        if st.debug and not isinstance(exc, click.ClickException):
            traceback.print_exception(exc, file=sys.stderr)
        if (st.json or _json_requested(args)) and not st.json_emitted:
            click.echo(failure.to_json())
        click.echo(f"navsnap: {printable(failure.line)}", err=True)
        sys.exit(failure.code)
