"""How a failed command ends: its exit code, one line on stderr and, under ``--json``, one
JSON object on stdout.

The JSON object is ``{"schema_version": N, "error": {"code", "kind", "message", "hint",
...fields}}``: ``code`` is the exit code, ``kind`` the error class (``docs/exit-codes.md``),
``message`` the text without the hint, and the class's structured fields follow (a drift's
``changed_keys``, a step's ``year`` and ``log_path``, a lock's ``holder``...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import click

from navsnap.errors import NavsnapError, cause

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_OUTPUT_CLOSED",
    "SCHEMA_VERSION",
    "Failure",
    "describe",
]

EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
#: The reader of stdout closed it (``| head``): 128 + SIGPIPE, as a Unix tool killed by it.
EXIT_OUTPUT_CLOSED = 141

#: Version of every ``--json`` output (see docs/json.md). Output without the field is 1.
SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Failure:
    """One failed command, ready to print."""

    code: int
    kind: str
    message: str
    hint: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    #: What the stderr line says after "navsnap: " ("error: ...", "interrupted ...").
    line: str = ""

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            **self.fields,
            "code": self.code,
            "kind": self.kind,
            "message": self.message,
            "hint": self.hint or None,
        }
        return {"schema_version": SCHEMA_VERSION, "error": error}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)


def _fold(text: str) -> str:
    return " ".join(text.split())


def describe(exc: BaseException, *, interrupted: bool, where: str | None = None) -> Failure:
    """The failure ``exc`` means. ``interrupted``: SIGINT arrived, so whatever was raised
    (``KeyboardInterrupt``, DuckDB's "Query interrupted", a step error wrapping it) is an
    interrupt. ``where``: what an interrupted command says about where it stopped."""
    if interrupted or isinstance(exc, KeyboardInterrupt | click.Abort):
        message = "interrupted" + (f" {where}" if where else "")
        return Failure(EXIT_INTERRUPTED, "Interrupted", message, line=message)
    if isinstance(exc, click.ClickException):
        # One line like every other error (click's own form spans four).
        ctx = getattr(exc, "ctx", None)
        hint = f"see '{ctx.command_path} --help'" if ctx is not None else ""
        message = _fold(exc.format_message())
        fields: dict[str, Any] = {}
        param = getattr(exc, "param", None)
        if param is not None and getattr(param, "opts", None):
            fields["param"] = param.opts[0]
        if isinstance(exc, click.NoSuchOption):
            fields["param"] = exc.option_name
        line = f"error: {message}" + (f" ({hint})" if hint else "")
        return Failure(exc.exit_code, "UsageError", message, hint, fields, line)
    if isinstance(exc, NavsnapError):
        return Failure(
            exc.exit_code,
            type(exc).__name__,
            _fold(exc.message),
            _fold(exc.hint),
            exc.fields(),
            f"error: {exc.one_line()}",
        )
    first = cause(exc, width=400)
    message = f"{type(exc).__name__}: {first}"
    hint = "run again with --debug and report it"
    return Failure(
        EXIT_INTERNAL, "InternalError", message, hint, {}, f"internal error: {message} ({hint})"
    )
