"""Year steps: what builds one simulated year.

* ``builtin`` — navsnap's own workforce simulation (:mod:`navsnap.sim`);
* ``shell:<template>`` — a command such as ``dbt run --vars '{simulation_year: {year}}'``;
  ``{year}`` and ``{db}`` are substituted, navsnap holds no connection while it runs, and its
  output goes to a per-year log file;
* ``python:<package.module>:<function>`` — called as ``function(con, year, config)``.
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from navsnap.config import Config
from navsnap.errors import ConfigError, StepError

__all__ = ["BuiltinStep", "PythonStep", "ShellStep", "Step", "make_step"]


class Step:
    """One year of a pipeline. ``holds_connection`` False: navsnap closes the database first."""

    name: str = "step"
    holds_connection: bool = True
    builtin: bool = False

    def run(
        self,
        *,
        year: int,
        con: duckdb.DuckDBPyConnection | None,
        db_path: Path,
        config: Config,
        log_path: Path,
    ) -> None:
        raise NotImplementedError

    def check_fresh(self, con: duckdb.DuckDBPyConnection, *, db_path: Path) -> None:
        """Raise when a new run must not start on this database (default: no check)."""


@dataclass
class BuiltinStep(Step):
    name: str = "builtin"
    holds_connection: bool = True
    builtin: bool = True

    def run(
        self,
        *,
        year: int,
        con: duckdb.DuckDBPyConnection | None,
        db_path: Path,
        config: Config,
        log_path: Path,
    ) -> None:
        from navsnap.sim import run_year

        assert con is not None
        try:
            run_year(con, year=year, params=config.simulation, seed=config.run.seed)
        except ValueError as exc:
            raise StepError(
                f"year {year}: {exc}",
                year=year,
                hint="use --resume to continue a run or --force-restart to start over",
            ) from None
        except duckdb.Error as exc:
            raise StepError(
                f"year {year}: the simulation failed: {str(exc).splitlines()[0]}", year=year
            ) from exc

    def check_fresh(self, con: duckdb.DuckDBPyConnection, *, db_path: Path) -> None:
        from navsnap.errors import UsageError

        row = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND NOT internal"
        ).fetchone()
        if row and row[0]:
            raise UsageError(
                f"database {str(db_path)!r} already holds a simulation",
                hint="use --resume to continue it, --force-restart to start over, "
                "or --db for a new file",
            )


@dataclass
class ShellStep(Step):
    template: str = ""
    name: str = "shell"
    holds_connection: bool = False

    def command(self, *, year: int, db_path: Path) -> str:
        return self.template.replace("{year}", str(year)).replace("{db}", shlex.quote(str(db_path)))

    def run(
        self,
        *,
        year: int,
        con: duckdb.DuckDBPyConnection | None,
        db_path: Path,
        config: Config,
        log_path: Path,
    ) -> None:
        cmd = self.command(year=year, db_path=db_path)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "NAVSNAP_YEAR": str(year), "NAVSNAP_DB": str(db_path)}
        with log_path.open("wb") as log:
            log.write(f"$ {cmd}\n".encode())
            log.flush()
            try:
                proc = subprocess.run(
                    cmd,
                    shell=True,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    check=False,
                )
            except OSError as exc:
                raise StepError(
                    f"year {year}: the step could not start: {exc.strerror}",
                    year=year,
                    log_path=str(log_path),
                ) from None
        if proc.returncode != 0:
            raise StepError(
                f"year {year}: step exited with status {proc.returncode}; log: {log_path}",
                year=year,
                log_path=str(log_path),
                hint="read the log, fix the step, then run again with --resume",
            )


@dataclass
class PythonStep(Step):
    target: str = ""
    name: str = "python"
    holds_connection: bool = True

    def resolve(self) -> Callable[..., Any]:
        module_name, _, func_name = self.target.rpartition(":")
        if not module_name or not func_name:
            raise ConfigError(
                f"step 'python:{self.target}' must be 'python:package.module:function'",
                key="run.step",
            )
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"step module {module_name!r} cannot be imported: {exc}",
                key="run.step",
                hint="check the name and that it is on PYTHONPATH",
            ) from None
        func = getattr(module, func_name, None)
        if not callable(func):
            raise ConfigError(
                f"step module {module_name!r} has no function {func_name!r}",
                key="run.step",
                hint="check the function name after the colon",
            )
        return func  # type: ignore[no-any-return]

    def run(
        self,
        *,
        year: int,
        con: duckdb.DuckDBPyConnection | None,
        db_path: Path,
        config: Config,
        log_path: Path,
    ) -> None:
        func = self.resolve()
        try:
            func(con, year, config)
        except Exception as exc:  # the user's code: report it, with its type
            raise StepError(
                f"year {year}: step {self.target} raised {type(exc).__name__}: {exc}",
                year=year,
                hint="fix the step, then run again with --resume (--debug shows the traceback)",
            ) from exc


_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def make_step(spec: str) -> Step:
    """Build the step named by ``spec`` (the ``run.step`` config key or ``--step``).

    ``builtin``; ``python:pkg.mod:func`` or plainly ``pkg.mod:func``; ``shell:<command>``
    or any other string, which is taken as a shell command template.
    """
    spec = spec.strip()
    if spec == "builtin":
        return BuiltinStep()
    if spec.startswith("shell:"):
        template = spec[len("shell:") :].strip()
        if not template:
            raise ConfigError("step 'shell:' has an empty command", key="run.step")
        return ShellStep(template=template)
    if spec.startswith("python:"):
        step = PythonStep(target=spec[len("python:") :].strip())
        step.resolve()
        return step
    if _CALLABLE.match(spec):
        return make_step("python:" + spec)
    if not spec:
        raise ConfigError("the step is empty", key="run.step")
    return ShellStep(template=spec)
