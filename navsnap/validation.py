"""Validation aggregates recorded in every manifest and re-checked after a restore.

Each step supplies its own (:meth:`navsnap.steps.Step.validation`; the built-in simulation's
are its counts and sums); users add named SQL checks in the config
(``[checks] name = "SELECT ..."``, ``$year`` bound to the snapshot's year). Values are made
JSON-safe (decimals and dates as strings) so that a manifest compares equal to a
recomputation exactly.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import duckdb

from navsnap.errors import ConfigError
from navsnap.steps import Step, parse_step

if TYPE_CHECKING:
    from navsnap.manifest import Manifest

__all__ = [
    "checked_checks",
    "compute_checks",
    "compute_validation",
    "json_safe",
    "recompute_validation",
]


def json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (decimal.Decimal, dt.date, dt.datetime, dt.time, dt.timedelta)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def checked_checks(checks: Mapping[str, str]) -> dict[str, str]:
    """``checks`` once each is known to be exactly one SELECT: refused (ConfigError naming the
    key) before a run's first step, never run. A check runs on the connection a snapshot
    reads in, so a DROP or an UPDATE there would change the database it snapshots, and a
    second statement would be silently ignored. Parsed where manifests' SQL is
    (:func:`navsnap.manifest_check.sql_parser`): nothing of the user's database is needed."""
    from navsnap.manifest_check import sql_parser

    for name, sql in sorted(checks.items()):
        try:
            statements = sql_parser().extract_statements(sql)
        except duckdb.Error as exc:
            raise _check_error(name, "does not parse", exc) from None
        if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
            raise ConfigError(
                f"check '{name}' must be exactly one SELECT statement",
                key=f"checks.{name}",
                hint="write it as SELECT <one value> [FROM ...] in [checks]",
            )
    return dict(checks)


def compute_checks(
    con: duckdb.DuckDBPyConnection, checks: Mapping[str, str], *, year: int
) -> dict[str, Any]:
    """Run each named SQL check; its first column of its first row is the value."""
    out: dict[str, Any] = {}
    for name, sql in sorted(checks.items()):
        try:
            params = {"year": year} if "$year" in sql else None
            row = con.execute(sql, params).fetchone() if params else con.execute(sql).fetchone()
        except duckdb.Error as exc:
            raise _check_error(name, "failed", exc) from None
        out[name] = json_safe(row[0] if row else None)
    return out


def _check_error(name: str, what: str, exc: duckdb.Error) -> ConfigError:
    """Check ``name`` refused by DuckDB: its first line, naming the key."""
    first = str(exc).splitlines()[0]
    return ConfigError(
        f"check '{name}' {what}: {first}", key=f"checks.{name}", hint="fix the SQL in [checks]"
    )


def compute_validation(con: duckdb.DuckDBPyConnection, *, year: int, step: Step) -> dict[str, Any]:
    """``step``'s aggregates of ``year``, JSON-safe."""
    return json_safe(step.validation(con, year=year))  # type: ignore[no-any-return]


def recompute_validation(con: duckdb.DuckDBPyConnection, manifest: Manifest) -> dict[str, Any]:
    """The aggregates of the step that took ``manifest``, recomputed over ``con``.

    The step is only parsed from the manifest's ``run.step``, never run or imported.
    """
    run = manifest.config.values.get("run")
    spec = run.get("step") if isinstance(run, dict) else None
    step = parse_step(spec if isinstance(spec, str) and spec.strip() else "builtin")
    return compute_validation(con, year=manifest.year, step=step)
