"""Shared CLI pieces: state, option decorators with one spelling everywhere, rendering."""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from navsnap.cli.interrupt import Interrupts
from navsnap.cli.outcome import SCHEMA_VERSION
from navsnap.config import Config, load_config
from navsnap.locate import store_url as _store_url
from navsnap.years import year_number

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "simulation.duckdb"


@dataclass
class State:
    """What the global options and the entry point hand to every command."""

    debug: bool = False
    quiet: bool = False
    verbose: int = 0
    json: bool = False
    #: The arguments as given (after ``navsnap``), for the line that continues a run.
    argv: tuple[str, ...] = ()
    interrupts: Interrupts = field(default_factory=Interrupts)
    #: A command printed its JSON result (an error after it adds no second object).
    json_emitted: bool = False
    #: Set by a command that can say where it stopped: "during 2028; continue with: ...".
    where: Callable[[], str | None] | None = None


def state() -> State:
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_object(State) if ctx is not None else None
    return obj if obj is not None else State()


def check_interrupt() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C was pressed and swallowed below us."""
    state().interrupts.check()


# ------------------------------------------------------------------ global options


def _global_flag(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        st = ctx.ensure_object(State)
        if name == "verbose":
            st.verbose += int(value or 0)
            if value:
                show_log(ctx.find_root())
        elif value:
            setattr(st, name, True)
        return value

    return callback


def global_options() -> list[click.Option]:
    """``--debug``, ``-q``, ``-v``: accepted before the subcommand and after it."""
    return [
        click.Option(
            ["--debug"],
            is_flag=True,
            expose_value=False,
            callback=_global_flag("debug"),
            help="Show tracebacks for errors.",
        ),
        click.Option(
            ["-q", "--quiet"],
            is_flag=True,
            expose_value=False,
            callback=_global_flag("quiet"),
            help="Print only errors (and --json output).",
        ),
        click.Option(
            ["-v", "--verbose"],
            count=True,
            expose_value=False,
            callback=_global_flag("verbose"),
            help="Say more (repeat for more detail).",
        ),
    ]


def plain_json_option() -> click.Option:
    """``--json`` for a command with no JSON output of its own: errors become JSON."""
    return click.Option(
        ["--json"],
        is_flag=True,
        expose_value=False,
        callback=_json_callback,
        help="Print errors as JSON for scripts.",
    )


def _json_callback(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    st = ctx.ensure_object(State)
    st.json = st.json or bool(value)
    return st.json


class _ClickHandler(logging.Handler):
    """Log records as 'navsnap: <message>' lines on stderr (through click, so tests see them)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"navsnap: {record.getMessage()}", err=True)


def show_log(ctx: click.Context) -> None:
    """Show the library's INFO log on stderr until the command ends (``-v``)."""
    logger = logging.getLogger("navsnap")
    if any(isinstance(h, _ClickHandler) for h in logger.handlers):
        return
    handler = _ClickHandler(logging.INFO)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(previous)

    ctx.call_on_close(restore)


def say(message: str = "", *, err: bool = False) -> None:
    """Print a human line unless --quiet."""
    if not state().quiet:
        click.echo(message, err=err)


def warn(message: str) -> None:
    if not state().quiet:
        click.secho(f"navsnap: warning: {message}", err=True, fg="yellow")


#: Subtrees that hold the user's own keys and values, printed as they are.
_VERBATIM = frozenset({"config", "validation", "checks", "rows"})


def _years_as_int(data: Any) -> Any:
    """``year`` (and ``*_year``) values as integers everywhere: the manifest format keeps a
    partition's year as a string, the JSON contract never does."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in _VERBATIM:
                out[key] = value
            elif (key == "year" or key.endswith("_year")) and isinstance(value, str):
                out[key] = int(value) if value.lstrip("-").isdigit() else value
            else:
                out[key] = _years_as_int(value)
        return out
    if isinstance(data, list | tuple):
        return [_years_as_int(v) for v in data]
    return data


def emit_json(data: dict[str, Any]) -> None:
    """One JSON object on stdout, with ``schema_version`` (docs/json.md)."""
    body = {**_years_as_int(data), "schema_version": SCHEMA_VERSION}
    click.echo(json.dumps(body, indent=2, sort_keys=True, default=str))
    state().json_emitted = True


def human_bytes(n: int | float) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


# ------------------------------------------------------------------ options


#: The environment variables the CLI reads, each the default of one option.
ENV_STORE = "NAVSNAP_STORE"
ENV_DB = "NAVSNAP_DB"
ENV_CONFIG = "NAVSNAP_CONFIG"


def db_option(f: F) -> F:
    return click.option(
        "--db",
        "db",
        default=DEFAULT_DB,
        show_default=True,
        envvar=ENV_DB,
        show_envvar=True,
        # readable=False: navsnap's own checks report an unreadable database (exit 4)
        type=click.Path(dir_okay=True, readable=False, path_type=str),
        help="Database file. Its name without .duckdb is the database whose snapshots a "
        "year, run or latest selects.",
    )(f)


def store_option(f: F) -> F:
    return click.option(
        "--store",
        "store",
        default=None,
        envvar=ENV_STORE,
        show_envvar=True,
        help="Store path or fsspec URL (memory://NAME, s3://bucket/prefix). Unset: [snapshot] "
        "store in the config, else snapshots/ beside the database.",
    )(f)


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        default=None,
        envvar=ENV_CONFIG,
        show_envvar=True,
        # readable=False: the config loader reports an unreadable file (exit 3)
        type=click.Path(readable=False, path_type=str),
        help="Config file (TOML). Default: navsnap.toml in the working directory, if any.",
    )(f)


def json_flag(help: str) -> Callable[[F], F]:
    """``--json`` (also given before the subcommand); errors become JSON on stdout too."""

    def decorate(f: F) -> F:
        return click.option("--json", "as_json", is_flag=True, callback=_json_callback, help=help)(
            f
        )

    return decorate


def json_option(f: F) -> F:
    return json_flag("Print JSON for scripts.")(f)


class YearType(click.types.IntParamType):
    """A year: ASCII digits only (click's ``int`` also takes '２０２７' and '2_027')."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return year_number(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a year; write it in ASCII digits, e.g. 2027", param, ctx)


#: The type of every ``--year`` option.
YEAR = YearType()


def year_option(f: F) -> F:
    """``--year`` for commands that read one snapshot: with a run id, that run's snapshot of
    the year; alone (or with latest), the database's newest snapshot of the year."""
    return click.option(
        "--year",
        type=YEAR,
        default=None,
        help="The snapshot of this year: SNAPSHOT may then be a run id (or prefix) or latest.",
    )(f)


def chosen_snapshot(url: str, ref: str | None, *, year: int | None, db: str) -> str:
    """The id of the snapshot ``ref`` (and ``year``) names, saying so on stderr when it is of
    another database than the one --db names (it was named explicitly: an id or a tag)."""
    from navsnap import api
    from navsnap.identity import database_name, foreign_note

    manifest = api.show(url, ref, year=year, db=db)
    note = foreign_note(manifest, database_name(db)) if db_given() else None
    if note:
        warn(note)
    return manifest.snapshot_id


def db_given() -> bool:
    """True when --db (or NAVSNAP_DB) was given, not left at its default: a read-only
    command then says when a snapshot named explicitly is of another database."""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("db") if ctx is not None else None
    return source not in (None, click.core.ParameterSource.DEFAULT)


class FiniteFloatRange(click.FloatRange):
    """``click.FloatRange`` that also refuses ``nan`` and ``inf`` (which ``float()`` takes):
    every float option of the CLI uses it. ``nan`` passes every range comparison, so
    ``--grace-minutes nan`` would otherwise switch the grace period off."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; give a number such as 1.5", param, ctx)
        return super().convert(number, param, ctx)


def wait_lock_option(f: F) -> F:
    return click.option(
        "--wait-lock",
        type=FiniteFloatRange(min=0),
        default=0.0,
        show_default=True,
        metavar="SECONDS",
        help="Wait this long for a held lock before giving up.",
    )(f)


def store_url(
    store: str | None, config_path: str | None, db: str, *, config: Config | None = None
) -> str:
    """--store, else [snapshot] store in the config, else snapshots/ beside the database."""
    if store:
        return store
    cfg = config if config is not None else load_config(config_path)
    return _store_url(None, config=cfg, db_path=db)


# ------------------------------------------------------------------ progress


class _Bars:
    """Renders library progress callbacks as click progress bars, on a terminal only."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty() and not state().quiet
        self._bar: Any = None
        self._phase = ""
        self._done = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        check_interrupt()
        if not self.enabled or total <= 0:
            return
        if phase != self._phase or self._bar is None:
            self.close()
            self._phase = phase
            self._done = 0
            self._bar = click.progressbar(
                length=total, label=f"{phase:>8}", file=sys.stderr, show_pos=True
            )
            self._bar.__enter__()
        step = done - self._done
        if step > 0:
            self._bar.update(step)
            self._done = done
        if done >= total:
            self.close()

    @contextmanager
    def above(self) -> Iterator[None]:
        """Print lines above the bar: clear its line first, draw it again after."""
        if self._bar is None:
            yield
            return
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
        try:
            yield
        finally:
            self._bar.render_progress()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None
            self._phase = ""


class _BarsContext(_Bars):
    def __enter__(self) -> _BarsContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bars_obj() -> _BarsContext:
    """Progress bars usable before the ``with`` block (to print lines above them)."""
    return _BarsContext()


@contextmanager
def progress_bars() -> Iterator[_Bars]:
    bars = _Bars()
    try:
        yield bars
    finally:
        bars.close()
