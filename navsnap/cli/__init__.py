"""The ``navsnap`` command: a thin click layer over :mod:`navsnap.api`.

Each command parses its options, calls one library function and renders the result. Errors
derived from :class:`navsnap.errors.NavsnapError` become one line on stderr and the class's
exit code; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from navsnap._version import __version__
from navsnap.cli.common import State
from navsnap.errors import NavsnapError

__all__ = ["cli", "main"]

EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="navsnap")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors (and --json output).")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Recoverable multi-year DuckDB simulations: snapshot every year, restore, resume.

    \b
    Example:
      navsnap run --years 2025-2029
      navsnap list
      navsnap restore --year 2027
    """
    ctx.obj = State(debug=debug, quiet=quiet)


def _register() -> None:
    from navsnap.cli import commands_run, commands_store

    for module in (commands_run, commands_store):
        for command in module.COMMANDS:
            cli.add_command(command)
    for name in ("commands_maintain", "commands_analyst"):
        try:
            module = __import__(f"navsnap.cli.{name}", fromlist=["COMMANDS"])
        except ModuleNotFoundError as exc:
            if exc.name != f"navsnap.cli.{name}":
                raise
            continue
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run the CLI and map errors to exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    try:
        return cli.main(args=args, prog_name="navsnap", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("navsnap: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        # One line like every other error (click's own form spans four).
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"navsnap: error: {' '.join(exc.format_message().split())}{where}", err=True)
        sys.exit(exc.exit_code)
    except NavsnapError as exc:
        if debug:
            raise
        click.echo(f"navsnap: error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("navsnap: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        if debug:
            raise
        first = " ".join(str(exc).split()) or type(exc).__name__
        click.echo(
            f"navsnap: internal error: {type(exc).__name__}: {first} "
            "(run again with --debug and report it)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
