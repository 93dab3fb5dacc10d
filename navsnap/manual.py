"""Snapshots taken by hand (``checkpoint``): which configuration they carry, which year.

A checkpoint stamps a database that navsnap did not run with a configuration and a year.
Both were once taken on trust: a 1,000-employee database got the default configuration
(10,000), so ``status`` planned to mix it into the 10,000 lineage, and ``--year 2031`` was
accepted for data that ends in 2029. Here:

* :func:`checkpoint_config` picks the configuration: the one given, else the configuration of
  this database's newest snapshot, else (a database of the built-in simulation only) the
  defaults; anything else is refused. The step then checks that the database could have come
  from it (:meth:`navsnap.steps.Step.check_database`);
* :func:`check_year` refuses a year the year-scoped tables hold no rows for, or one that is
  not the newest year they hold.

Nothing here writes: the checks run before the snapshot starts.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from navsnap.catalog import TableInfo, quote_ident
from navsnap.config import Config, load_config, parse_section
from navsnap.errors import (
    ConfigError,
    DatabaseError,
    NavsnapError,
    SnapshotNotFound,
    UsageError,
)
from navsnap.identity import database_name, newest_of
from navsnap.lineage import config_block
from navsnap.manifest import Manifest
from navsnap.steps import Step, parse_step
from navsnap.store import Store

__all__ = [
    "NOT_INHERITED",
    "CheckpointConfig",
    "check_year",
    "checkpoint_config",
    "inherited_block",
    "newest_year",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckpointConfig:
    """The configuration a checkpoint records, and where it came from."""

    config: Config
    step: Step
    #: The manifest's ``config`` block (values, identity, inputs, hash, origin_year).
    block: Mapping[str, Any]
    #: The snapshot whose configuration was inherited (None: given, or the defaults).
    inherited_from: Manifest | None = None

    @property
    def parent(self) -> str | None:
        """The snapshot a checkpoint of an inherited configuration continues."""
        return self.inherited_from.snapshot_id if self.inherited_from is not None else None


def last_snapshot(store: Store, db_path: Path) -> Manifest | None:
    """The newest snapshot of this database (same :func:`database_name`), None when none."""
    try:
        store.check_readable()  # a foreign or newer store is refused as such
    except SnapshotNotFound:  # no store yet
        return None
    everyone = store.read_manifests()[0]
    return newest_of(
        everyone, database_name(db_path), hint=lambda _m: "pass the configuration with --config"
    )


#: Keys of ``config.values`` a checkpoint never inherits: what it would execute. ``checks``
#: is SQL the snapshot runs on the database. (Nothing else inherited runs: the step is
#: neither run nor imported, input files are not read, the store and ``[retention]`` are
#: not taken from it.)
NOT_INHERITED = ("checks",)


def inherited_block(manifest: Manifest, *, warnings: list[str] | None = None) -> dict[str, Any]:
    """The ``config`` block a checkpoint inherits from ``manifest``: unchanged (same lineage
    hash, identity, inputs and ``origin_year``) but for the keys of :data:`NOT_INHERITED`,
    which are dropped from ``values``. A manifest is untrusted input, and a reader never
    runs SQL found in one (``docs/format.md``); the hash covers ``identity`` and ``inputs``
    only, so the lineage is the same. A notice naming the checks left out is logged and
    appended to ``warnings``."""
    block = manifest.config.to_dict()
    values = dict(block["values"])
    dropped = {k: values.pop(k) for k in NOT_INHERITED if k in values}
    checks = dropped.get("checks")
    if isinstance(checks, dict) and checks:
        names = ", ".join(sorted(str(k) for k in checks)[:10])
        line = (
            f"the configuration of snapshot {manifest.snapshot_id} is inherited without its "
            f"checks ({names}): check SQL is never taken from a store; pass --config to run "
            "your checks"
        )
        log.info("%s", line)
        if warnings is not None:
            warnings.append(line)
    block["values"] = values
    return block


def _config_of(manifest: Manifest, values: Mapping[str, Any]) -> Config:
    try:
        return parse_section(Config, dict(values))
    except (NavsnapError, ValueError, TypeError) as exc:
        detail = exc.one_line() if isinstance(exc, NavsnapError) else str(exc)
        raise ConfigError(
            f"the configuration of snapshot {manifest.snapshot_id} cannot be used: {detail}",
            hint="pass the configuration with --config (or the options 'run' was given)",
        ) from None


def checkpoint_config(
    config: Config | None,
    *,
    store: Store,
    db_path: Path,
    builtin_tables: bool,
    warnings: list[str] | None = None,
) -> CheckpointConfig:
    """The configuration of a checkpoint of ``db_path``.

    ``config`` given: that one. Else the newest snapshot of this database in ``store``
    lends its configuration block (same lineage hash, same ``origin_year``), without its
    checks (:func:`inherited_block`).
    Else, when ``builtin_tables`` (the database holds the built-in simulation's tables),
    the defaults; else ConfigError: a hash of defaults would put the snapshot in a lineage
    it does not belong to.
    """
    if config is not None:
        step = parse_step(config.run.step)
        return CheckpointConfig(
            config, step, config_block(config, step=step, db=db_path, store=store)
        )
    last = last_snapshot(store, db_path)
    if last is not None:
        block = inherited_block(last, warnings=warnings)
        cfg = _config_of(last, block["values"])
        return CheckpointConfig(cfg, parse_step(cfg.run.step), block, inherited_from=last)
    if builtin_tables:
        cfg = load_config(search_cwd=False)
        step = parse_step(cfg.run.step)
        return CheckpointConfig(cfg, step, config_block(cfg, step=step))
    raise ConfigError(
        f"no configuration for database {str(db_path)!r}: no --config was given and "
        f"{store.url!r} holds no snapshot of database {database_name(db_path)!r} to take it from",
        hint="pass --config (or --step/--seed as 'run' was given) so the snapshot "
        "records the lineage that built the database",
    )


def newest_year(con: duckdb.DuckDBPyConnection, tables: list[TableInfo]) -> int | None:
    """The newest year any year-scoped table holds a row for (None: no rows at all)."""
    newest: int | None = None
    for t in tables:
        if t.year_column is None:
            continue
        row = con.execute(f"SELECT TRY_CAST(max({quote_ident(t.year_column)}) AS BIGINT) "
                          f"FROM {t.ref}").fetchone()  # fmt: skip
        if row and row[0] is not None:
            newest = int(row[0]) if newest is None else max(newest, int(row[0]))
    return newest


def check_year(
    con: duckdb.DuckDBPyConnection,
    tables: list[TableInfo],
    *,
    year: int,
    year_column: str,
    db_path: Path,
) -> None:
    """Refuse ``year`` unless it is the newest year the year-scoped tables hold rows for.

    A checkpoint is the state at the end of a year; a database holds the end of its newest
    year only. UsageError (exit 2) naming the year to pass.
    """
    if not any(t.year_column for t in tables):
        raise DatabaseError(
            f"database {str(db_path)!r} has no table with the year column {year_column!r}",
            hint="set [run] year_column in the config to your year column",
        )
    newest = newest_year(con, tables)
    if newest is None:
        raise UsageError(
            f"--year {year}: the year-scoped tables of {str(db_path)!r} hold no rows",
            hint="run the year's step first, then checkpoint it",
        )
    if year > newest:
        raise UsageError(
            f"--year {year}: the year-scoped tables of {str(db_path)!r} hold no rows for "
            f"{year}; its newest year is {newest}",
            hint=f"pass --year {newest}",
        )
    if year < newest:
        raise UsageError(
            f"--year {year} is not the newest year of {str(db_path)!r} ({newest}): the "
            f"database holds the end of {newest}, not of {year}",
            hint=f"pass --year {newest}, or restore the end of {year} first",
        )
