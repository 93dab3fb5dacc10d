"""Year steps: what builds one simulated year, and what a step contributes to a snapshot.

A step is the extension point of the year loop. Besides running a year it supplies:

* ``section``: the config section it reads (the built-in simulation reads ``[simulation]``);
* :meth:`Step.identity`: the keys that define its lineage, hashed into the configuration hash
  and compared on ``--resume`` (a change is drift);
* :meth:`Step.validation`: the aggregates recorded in each manifest and re-checked after a
  restore.

The steps:

* ``builtin``: navsnap's own workforce simulation (:class:`navsnap.sim.step.SimulationStep`);
* ``shell:<template>``: a command such as ``dbt run --vars '{simulation_year: {year}}'``;
  ``{year}`` and ``{db}`` (the database's absolute path) are substituted, navsnap holds no
  connection while it runs, and its output goes to a per-year log file;
* ``python:<package.module>:<function>``: called as ``function(con, year, config)``.

A step never sees the store key: ``NAVSNAP_STORE_KEY`` and ``NAVSNAP_STORE_KEY_FILE``
(:data:`HIDDEN_ENV`) are left out of a shell step's environment and removed from the
process environment while a Python step runs (the open store already holds the key). Cloud
credentials such as ``AWS_*`` stay: they are the user's, and a dbt step may need them.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from navsnap.config import Config, flatten
from navsnap.errors import ConfigError, StepError
from navsnap.store.trust import KEY_ENV, KEY_FILE_ENV

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "HIDDEN_ENV",
    "PythonStep",
    "ShellStep",
    "Step",
    "TableAggregates",
    "YearContract",
    "make_step",
    "parse_step",
    "step_environment",
    "without_hidden_env",
]

#: Environment variables a step never sees: the store key and the file that holds it.
HIDDEN_ENV = (KEY_ENV, KEY_FILE_ENV)


def step_environment(**extra: str) -> dict[str, str]:
    """The environment of a step's process: navsnap's own, without :data:`HIDDEN_ENV`."""
    env = {k: v for k, v in os.environ.items() if k not in HIDDEN_ENV}
    return {**env, **extra}


@contextlib.contextmanager
def without_hidden_env() -> Iterator[None]:
    """Remove :data:`HIDDEN_ENV` from ``os.environ`` while a Python step runs in-process,
    and put them back afterwards."""
    saved = {k: os.environ.pop(k) for k in HIDDEN_ENV if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


@dataclass(frozen=True)
class YearContract:
    """A step's promise about what running year Y writes: rows of year Y of the year-scoped
    tables, and the global tables named in ``rewrites``; nothing else. A snapshot may then
    take older partitions' fingerprints from the previous snapshot after a cheap check of
    their row counts (``docs/concepts.md``, Lean snapshots)."""

    rewrites: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TableAggregates:
    """Validation aggregates over one table's rows of the snapshot's year: ``exprs`` are
    (name, SQL aggregate expression) pairs. A snapshot computes them in the same scan as that
    year's fingerprint (:mod:`navsnap.yearpass`)."""

    table: str
    year_column: str
    exprs: tuple[tuple[str, str], ...]


class Step:
    """One year of a pipeline. ``holds_connection`` False: navsnap closes the database first."""

    name: str = "step"
    holds_connection: bool = True
    #: The config section this step reads, if any (``"simulation"`` for the built-in one).
    section: str | None = None

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

    def identity(self, config: Config) -> dict[str, Any]:
        """The lineage keys, flat ``{dotted.key: value}``: what can change the step's tables.

        The ``run`` keys ``seed``, ``step`` and ``year_column``, and every key of the step's
        ``section``. Declared input files (``[inputs] files``) are hashed beside these by
        :func:`navsnap.lineage.config_block`; operational settings stay outside.
        """
        out: dict[str, Any] = {
            "run.seed": config.run.seed,
            "run.step": config.run.step,
            "run.year_column": config.run.year_column,
        }
        if self.section is not None:
            out.update(flatten(getattr(config, self.section), self.section))
        return out

    def validation(self, con: duckdb.DuckDBPyConnection, *, year: int) -> dict[str, Any]:
        """Aggregates of ``year`` recorded in the manifest and re-checked on restore."""
        return {}

    def year_aggregates(self) -> tuple[TableAggregates, ...]:
        """The per-table parts of :meth:`validation`, for a snapshot to compute in its one
        pass over each table's year (default: none, :meth:`validation` is called instead)."""
        return ()

    def assemble_validation(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        year: int,
        values: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:
        """:meth:`validation` from the values of :meth:`year_aggregates` ({table: {name:
        value}}); it must equal :meth:`validation` on the same database."""
        return self.validation(con, year=year)

    def contract(self, config: Config) -> YearContract | None:
        """What the step promises to write (None: nothing, every partition is re-checked).

        Shell and Python steps promise what ``[run] step_contract`` and ``step_rewrites``
        declare; the built-in simulation declares its own.
        """
        if not config.run.step_contract:
            return None
        return YearContract(rewrites=frozenset(config.run.step_rewrites))

    def check_fresh(self, con: duckdb.DuckDBPyConnection, *, db_path: Path) -> None:
        """Raise when a new run must not start on this database (default: no check)."""

    def owns_database(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Whether the database holds this step's own tables, so that its defaults describe
        it well enough for a checkpoint without a configuration (default: False)."""
        return False

    def check_database(
        self, con: duckdb.DuckDBPyConnection, *, config: Config, db_path: Path
    ) -> None:
        """Raise ConfigError when the database evidently was not built with ``config``
        (checked before ``checkpoint`` stamps it with ``config``'s lineage; default: none)."""


@dataclass
class ShellStep(Step):
    template: str = ""
    name: str = "shell"
    holds_connection: bool = False

    def command(self, *, year: int, db_path: Path) -> str:
        """The template with ``{year}`` and ``{db}`` (the database's absolute path, quoted:
        a command that changes directory still writes to navsnap's database)."""
        db = shlex.quote(str(db_path.absolute()))
        return self.template.replace("{year}", str(year)).replace("{db}", db)

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
        env = step_environment(NAVSNAP_YEAR=str(year), NAVSNAP_DB=str(db_path.absolute()))
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


#: What to check when a step module is not found (:func:`_importable_from_cwd`).
_IMPORT_HINT = "check the name, and that it is installed, on PYTHONPATH or in the current directory"


def _importable_from_cwd() -> None:
    """Let a step module in the current directory be imported, as ``python -m navsnap``
    allows, also under the installed ``navsnap`` command (whose ``sys.path`` does not hold the
    current directory). Added last, so a file there never shadows an installed module."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)


@dataclass
class PythonStep(Step):
    target: str = ""
    name: str = "python"
    holds_connection: bool = True

    def _names(self) -> tuple[str, str]:
        module_name, _, func_name = self.target.rpartition(":")
        if not module_name or not func_name:
            raise ConfigError(
                f"step 'python:{self.target}' must be 'python:package.module:function'",
                key="run.step",
                hint="name the module and the function, e.g. --step python:mymodel.steps:run_year",
            )
        return module_name, func_name

    def resolve(self) -> Callable[..., Any]:
        module_name, func_name = self._names()
        _importable_from_cwd()
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"step module {module_name!r} cannot be imported: {exc}",
                key="run.step",
                hint=_IMPORT_HINT,
            ) from None
        func = getattr(module, func_name, None)
        if not callable(func):
            raise ConfigError(
                f"step module {module_name!r} has no function {func_name!r}",
                key="run.step",
                hint="check the function name after the colon",
            )
        return func  # type: ignore[no-any-return]

    def code_hash(self) -> str | None:
        """xxh3-128 of the step module's source file (None: no file, e.g. a built-in module)."""
        module_name, _ = self._names()
        _importable_from_cwd()
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError) as exc:
            raise ConfigError(
                f"step module {module_name!r} cannot be found: {exc}",
                key="run.step",
                hint=_IMPORT_HINT,
            ) from None
        if spec is None:
            raise ConfigError(
                f"step module {module_name!r} cannot be found",
                key="run.step",
                hint=_IMPORT_HINT,
            )
        origin = spec.origin
        if not origin or not os.path.isfile(origin):
            return None
        return xxhash.xxh3_128_hexdigest(Path(origin).read_bytes())

    def identity(self, config: Config) -> dict[str, Any]:
        """``run.*`` keys plus ``step.code``, the hash of the step's module file."""
        return {**super().identity(config), "step.code": self.code_hash()}

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
            with without_hidden_env():
                func(con, year, config)
        except SystemExit as exc:  # sys.exit() in the user's code ends the step, not navsnap
            raise StepError(
                f"year {year}: step {self.target} called sys.exit({exc.code!r})",
                year=year,
                hint="a step reports failure by raising an exception; return to succeed, "
                "then run again with --resume",
            ) from exc
        except Exception as exc:  # the user's code: report it, with its type
            raise StepError(
                f"year {year}: step {self.target} raised {type(exc).__name__}: {exc}",
                year=year,
                hint="fix the step, then run again with --resume (--debug shows the traceback)",
            ) from exc
        if con is not None:
            import duckdb  # loaded already: the step was given a connection

            try:
                con.execute("SELECT 1")
            except duckdb.Error as exc:
                raise StepError(
                    f"year {year}: step {self.target} left navsnap's connection unusable "
                    f"({str(exc).splitlines()[0][:120]})",
                    year=year,
                    hint="do not close the connection the step is given; "
                    "then run again with --resume",
                ) from exc


_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def parse_step(spec: str) -> Step:
    """The step named by ``spec`` (the ``run.step`` config key or ``--step``), unresolved.

    ``builtin``; ``python:pkg.mod:func`` or plainly ``pkg.mod:func``; ``shell:<command>``
    or any other string, which is taken as a shell command template. A Python step's module
    is not imported here (see :func:`make_step`).
    """
    spec = spec.strip()
    if spec == "builtin":
        from navsnap.sim.step import SimulationStep

        return SimulationStep()
    if spec.startswith("shell:"):
        template = spec[len("shell:") :].strip()
        if not template:
            raise ConfigError(
                "step 'shell:' has an empty command",
                key="run.step",
                hint="give the command after shell:, e.g. 'shell:python step.py {db} {year}'",
            )
        return ShellStep(template=template)
    if spec.startswith("python:"):
        return PythonStep(target=spec[len("python:") :].strip())
    if _CALLABLE.match(spec):
        return PythonStep(target=spec)
    if not spec:
        raise ConfigError(
            "the step is empty",
            key="run.step",
            hint="set [run] step or --step to 'builtin', a shell command or pkg.module:function",
        )
    return ShellStep(template=spec)


def make_step(spec: str) -> Step:
    """:func:`parse_step`, then import a Python step's function so a bad name fails now."""
    step = parse_step(spec)
    if isinstance(step, PythonStep):
        step.resolve()
    return step
