"""The ``navsnap`` command: a thin click layer over :mod:`navsnap.api`.

Each command parses its options, calls one library function and renders the result. Errors
derived from :class:`navsnap.errors.NavsnapError` become one line on stderr and the class's
exit code (under ``--json`` also one JSON object on stdout); ``--debug`` adds the traceback.
Ctrl-C exits 130 wherever it lands (:mod:`navsnap.cli.interrupt`).
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

import click

from navsnap._version import __version__
from navsnap.cli.common import State, global_options, json_flag, plain_json_option
from navsnap.cli.outcome import EXIT_INTERNAL, EXIT_INTERRUPTED, describe

__all__ = ["EXIT_INTERNAL", "EXIT_INTERRUPTED", "cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


def _register() -> None:
    from navsnap.cli import commands_run, commands_shell, commands_store

    modules: list[Any] = [commands_run, commands_store, commands_shell]
    for name in ("commands_maintain", "commands_analyst"):
        try:
            modules.append(__import__(f"navsnap.cli.{name}", fromlist=["COMMANDS"]))
        except ModuleNotFoundError as exc:
            if exc.name != f"navsnap.cli.{name}":
                raise
    for module in modules:
        for command in module.COMMANDS:
            if not any("--json" in getattr(p, "opts", ()) for p in command.params):
                command.params.append(plain_json_option())
            command.params.extend(global_options())
            cli.add_command(command)
    cli.params.extend(global_options())


_register()


def _json_requested(args: list[str]) -> bool:
    return "--json" in (args[: args.index("--")] if "--" in args else args)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI and map errors to exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    st = State(argv=tuple(args), debug="--debug" in args)
    try:
        with st.interrupts.installed():
            try:
                rv = cli.main(args=args, prog_name="navsnap", standalone_mode=False, obj=st)
            except click.exceptions.Exit as exc:
                sys.exit(exc.exit_code)
            if isinstance(rv, int) and rv:
                sys.exit(rv)  # a command's ctx.exit(N): diff --exit-code
            return rv
    except SystemExit:
        raise
    except BaseException as exc:  # every outcome, Ctrl-C included, ends as one line
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
        click.echo(f"navsnap: {failure.line}", err=True)
        sys.exit(failure.code)
