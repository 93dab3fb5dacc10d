"""run, status, checkpoint."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from navsnap import api
from navsnap.cli.common import (
    YEAR,
    check_interrupt,
    config_option,
    db_option,
    emit_json,
    human_bytes,
    json_option,
    progress_bars,
    say,
    state,
    store_option,
    wait_lock_option,
    warn,
)
from navsnap.cli.interrupt import continue_command
from navsnap.config import DEFAULT_CONFIG_NAME, load_config
from navsnap.years import parse_years, year_span

if TYPE_CHECKING:  # run's modules are imported by run_cmd: status starts without them
    from navsnap.runner import RunEvent


class _Where:
    """Which years a run started and finished, to say where Ctrl-C stopped it."""

    def __init__(self, argv: tuple[str, ...]) -> None:
        self.argv = argv
        self.started: set[int] = set()
        self.done: set[int] = set()

    def note(self, event: RunEvent) -> None:
        if event.kind == "start" and event.started is not None:
            self.started.add(event.started)
        elif event.kind == "year" and event.year is not None:
            self.done.add(event.year.year)

    def describe(self) -> str:
        unfinished = sorted(self.started - self.done)
        if unfinished:
            at = f"during {unfinished[0]}"
        elif self.done:
            at = f"after {max(self.done)}"
        else:
            at = "before its first year"
        again = continue_command(self.argv, progressed=bool(self.done))
        return f"{at}; continue with: {again}"


def decision_json(data: dict[str, Any]) -> dict[str, Any]:
    """A resume decision with the contract's name for its snapshot (``snapshot`` stays as a
    deprecated alias, docs/json.md)."""
    return {**data, "snapshot_id": data.get("snapshot")}


def run_json(data: dict[str, Any]) -> dict[str, Any]:
    """A run report with the contract's names: ``bytes_new`` per year (``snapshot_new_bytes``
    stays as a deprecated alias) and the decision's ``snapshot_id``."""
    years = [{**y, "bytes_new": y.get("snapshot_new_bytes", 0)} for y in data.get("years", [])]
    decision = data.get("decision")
    return {
        **data,
        "years": years,
        "decision": decision_json(decision) if isinstance(decision, dict) else decision,
    }


def _overrides(**values: Any) -> dict[str, Any]:
    keys = {
        "employees": "simulation.employees",
        "seed": "run.seed",
        "step": "run.step",
        "threads": "run.threads",
        "mode": "snapshot.mode",
        "hot": "snapshot.hot",
    }
    return {keys[k]: v for k, v in values.items() if v is not None}


def lineage_options(f: Any) -> Any:
    """Options that change the simulated tables (part of the configuration hash)."""
    f = click.option(
        "--step",
        default=None,
        help="What builds a year: 'builtin', a shell command template with {year} and {db}, "
        "or a Python callable package.module:function.",
    )(f)
    f = click.option("--seed", type=int, default=None, help="Seed of every random draw.")(f)
    f = click.option(
        "--employees", type=int, default=None, help="Census size (built-in simulation)."
    )(f)
    return f


def _year_or_ref(value: str | None) -> int | str | None:
    """``--from-snapshot``: a year (up to four digits) or a snapshot reference."""
    if value is None:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 4 else value


@click.command("run")
@click.option(
    "--years", default=None, help="Years to simulate, A-B. Default: [run] years (2025-2029)."
)
@config_option
@db_option
@store_option
@lineage_options
@click.option(
    "--threads", type=int, default=None, help="DuckDB threads (results do not depend on it)."
)
@click.option("--mode", type=click.Choice(["parquet", "file"]), default=None, help="Snapshot mode.")
@click.option(
    "--hot",
    type=click.IntRange(min=0),
    default=None,
    metavar="K",
    help="Hot tier: also keep a whole-file copy of the latest K year-ends, so restoring and "
    "resuming them is a file copy. Default: [snapshot] hot (0: off).",
)
@click.option("--no-snapshots", is_flag=True, help="Run without taking snapshots.")
@click.option("--resume", is_flag=True, help="Continue from the newest verified snapshot.")
@click.option("--force-restart", is_flag=True, help="Move the database aside and start over.")
@click.option(
    "--from-snapshot",
    default=None,
    metavar="YEAR|SNAPSHOT",
    help="Restore the end of YEAR (this database's newest of it) or the snapshot named (id, "
    "tag, latest@YEAR), then run the years given, which must start the year after. A "
    "snapshot of another configuration starts a new lineage from it (a fork).",
)
@wait_lock_option
@json_option
def run_cmd(
    years: str | None,
    config_path: str | None,
    db: str,
    store: str | None,
    employees: int | None,
    seed: int | None,
    step: str | None,
    threads: int | None,
    mode: str | None,
    hot: int | None,
    no_snapshots: bool,
    resume: bool,
    force_restart: bool,
    from_snapshot: str | None,
    wait_lock: float,
    as_json: bool,
) -> None:
    """Run a multi-year simulation, snapshotting every year boundary.

    --resume continues the chain the live database is on: this database's snapshots of this
    configuration, from the one the database matches (or the newest taken, when it matches
    none) through its parents; never an older run's later years.

    \b
    Example:
      navsnap run --years 2025-2029
      navsnap run --years 2025-2029 --resume
      navsnap run --years 2025-2029 --hot 2 --db hot.duckdb
      navsnap run --years 2027-2028 --from-snapshot 2026
      navsnap run --years 2027-2029 --from-snapshot latest@2026 --seed 7
      navsnap run --years 2025-2029 --step 'dbt run --vars "{simulation_year: {year}}"'
    """
    from navsnap.cli.progress import RunProgress, year_summary
    from navsnap.runner import run as run_years

    span = parse_years(years) if years is not None else None
    config = load_config(
        config_path,
        overrides=_overrides(
            employees=employees, seed=seed, step=step, threads=threads, mode=mode, hot=hot
        ),
    )
    if span is None:
        span = year_span(None, config)
    started = time.perf_counter()
    live = RunProgress(
        enabled=sys.stderr.isatty() and not state().quiet and not as_json,
        years_total=span[1] - span[0] + 1,
    )
    verbose = state().verbose > 0
    stopped_at = _Where(state().argv)
    state().where = stopped_at.describe

    def on_event(event: RunEvent) -> None:
        check_interrupt()
        stopped_at.note(event)
        if as_json:
            return
        if event.kind == "start" and event.started is not None:
            live.year_started(event.started)
        elif event.kind == "warning":
            with live.above():
                warn(event.message)
        elif event.kind == "plan":
            with live.above():
                say(event.message)
        elif event.kind == "year" and event.year is not None:
            live.year_done(event.year.year)
            with live.above():
                for line in year_summary(event.year, verbose=verbose):
                    say(line)

    try:
        report = run_years(
            config,
            db=db,
            years=span,
            store=store,
            snapshots=False if no_snapshots else None,
            resume=resume,
            force_restart=force_restart,
            from_snapshot=_year_or_ref(from_snapshot),
            wait_lock=wait_lock,
            on_event=on_event,
            progress=live,
        )
    finally:
        live.close()
    if as_json:
        emit_json(run_json(report.to_dict()))
        return
    n = len(report.years_run)
    run = f" (run {report.run_id})" if report.store else ""
    say(f"done: {n} year(s) in {time.perf_counter() - started:.1f}s{run}")
    say(f"database {db}" + (f"; snapshots in {report.store}" if report.store else ""))


@click.command("status")
@click.option("--years", default=None, help="Years the run covers, A-B. Default: [run] years.")
@config_option
@lineage_options
@db_option
@store_option
@click.option(
    "--deep",
    "--no-cache",
    "deep",
    is_flag=True,
    help="Fingerprint the database even when its stat cache says it is unchanged.",
)
@json_option
def status_cmd(
    years: str | None,
    config_path: str | None,
    employees: int | None,
    seed: int | None,
    step: str | None,
    db: str,
    store: str | None,
    deep: bool,
    as_json: bool,
) -> None:
    """Say what 'run --resume' would do and why, without doing it.

    A database found equal to a snapshot is recorded in <db>.navsnap.stat beside it; while
    the file is unchanged, status trusts that record instead of fingerprinting it again
    (from_cache in --json). 'run --resume' always fingerprints.

    \b
    Example:
      navsnap status --years 2025-2029
      navsnap status --deep
    """
    config = load_config(
        config_path, overrides=_overrides(employees=employees, seed=seed, step=step)
    )
    decision = api.status(config, db=db, years=years, store=store, deep=deep)
    if as_json:
        emit_json(decision_json(decision.to_dict()))
        return
    for line in decision.skipped:
        warn(line)
    click.echo(decision.explain())


@click.command("checkpoint")
@click.option(
    "--year", type=YEAR, required=True, help="The year whose end the database holds (its newest)."
)
@config_option
@lineage_options
@db_option
@store_option
@click.option(
    "--run",
    "run_id",
    default=None,
    help="Run id to file the snapshot under: letters, digits, '.', '_', '-' (at most 100), "
    "starting with a letter or digit. Default: a new one.",
)
@click.option("--mode", type=click.Choice(["parquet", "file"]), default=None, help="Snapshot mode.")
@wait_lock_option
@json_option
def checkpoint_cmd(
    year: int,
    config_path: str | None,
    employees: int | None,
    seed: int | None,
    step: str | None,
    db: str,
    store: str | None,
    run_id: str | None,
    mode: str | None,
    wait_lock: float,
    as_json: bool,
) -> None:
    """Snapshot an existing database by hand (dbt hook, scheduler).

    The configuration is the one given (--config and the options 'run' takes), else that of
    the database's newest snapshot, without its checks (check SQL is never taken from a
    store). YEAR must be the newest year the database holds.

    \b
    Example:
      navsnap checkpoint --year 2028 --db simulation.duckdb
      navsnap checkpoint --year 2028 --db sim.duckdb --step 'dbt run --vars ...'
    """
    overrides = _overrides(employees=employees, seed=seed, step=step)
    given = config_path is not None or bool(overrides) or Path(DEFAULT_CONFIG_NAME).is_file()
    config = load_config(config_path, overrides=overrides) if given else None
    notices: list[str] = []
    with progress_bars() as bars:
        manifest = api.checkpoint(
            db=db,
            year=year,
            store=store,
            config=config,
            run_id=run_id,
            mode=mode,
            wait_lock=wait_lock,
            progress=bars,
            warnings=notices,
        )
    for line in notices:
        warn(line)
    if as_json:
        emit_json(
            {
                "snapshot_id": manifest.snapshot_id,
                "year": manifest.year,
                "rows": manifest.total_rows,
                "bytes_new": manifest.new_bytes,
            }
        )
        return
    say(
        f"snapshot {manifest.snapshot_id}: year {year}, {len(manifest.tables)} tables, "
        f"{manifest.total_rows:,} rows, +{human_bytes(manifest.new_bytes)}"
    )


COMMANDS = [run_cmd, status_cmd, checkpoint_cmd]
