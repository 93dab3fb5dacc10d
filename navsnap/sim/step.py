"""The built-in simulation as a year step: its config section, lineage identity and aggregates.

This module is the only place the year loop meets the simulation; the core knows it only as
the step named ``builtin``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from navsnap.config import Config
from navsnap.errors import ConfigError, StepError, UsageError
from navsnap.steps import Step, TableAggregates, YearContract

if TYPE_CHECKING:
    import duckdb

# The model and its validation SQL are imported by the methods that run them: ``status``
# names the built-in step (its lineage keys) without running it.

__all__ = ["SimulationStep"]

# The tables validation_aggregates reads: a database without them has no aggregates.
_AGGREGATED = frozenset(
    {"fct_workforce_snapshot", "fct_yearly_events", "int_employee_contributions"}
)
#: The tables that mark a database as the built-in simulation's.
_OWN = frozenset({"census", "fct_workforce_snapshot", "fct_yearly_events"})


def _main_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = current_schema() AND NOT internal"
    ).fetchall()
    return {str(name) for (name,) in rows}


class SimulationStep(Step):
    """``builtin``: one year of :func:`navsnap.sim.run_year`, holding the connection."""

    name = "builtin"
    holds_connection = True
    #: Its identity is then every ``simulation.*`` key, as in the hash of existing stores.
    section = "simulation"

    def run(
        self,
        *,
        year: int,
        con: duckdb.DuckDBPyConnection | None,
        db_path: Path,
        config: Config,
        log_path: Path,
    ) -> None:
        assert con is not None
        import duckdb

        from navsnap.sim.model import run_year

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

    def validation(self, con: duckdb.DuckDBPyConnection, *, year: int) -> dict[str, Any]:
        """The simulation's aggregates; none for a database without its year tables."""
        rows = con.execute(
            # Tables or views: verify recomputes the aggregates over views of a snapshot.
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = current_schema()"
        ).fetchall()
        if not {str(name) for (name,) in rows} >= _AGGREGATED:
            return {}
        from navsnap.sim.validation import validation_aggregates

        return validation_aggregates(con, year=year)

    def year_aggregates(self) -> tuple[TableAggregates, ...]:
        from navsnap.sim.validation import YEAR_AGGREGATES

        return YEAR_AGGREGATES

    def assemble_validation(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        year: int,
        values: Mapping[str, Mapping[str, Any]],
    ) -> dict[str, Any]:
        from navsnap.sim.validation import assemble

        return assemble(con, year=year, values=values)

    def contract(self, config: Config) -> YearContract | None:
        """Year Y inserts rows of year Y into the year tables and nothing else; the global
        tables (census, parameters) are written once, by the first year."""
        return YearContract()

    def check_fresh(self, con: duckdb.DuckDBPyConnection, *, db_path: Path) -> None:
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

    def owns_database(self, con: duckdb.DuckDBPyConnection) -> bool:
        return _main_tables(con) >= _OWN

    def check_database(
        self, con: duckdb.DuckDBPyConnection, *, config: Config, db_path: Path
    ) -> None:
        """The census holds ``simulation.employees`` rows (it is generated with exactly
        that many): a 1,000-employee database is not stamped with the 10,000 lineage."""
        if not self.owns_database(con):
            return  # not the simulation's tables (a table may just be called census)
        row = con.execute("SELECT count(*) FROM census").fetchone()
        census = int(row[0]) if row else 0
        wanted = config.simulation.employees
        if census != wanted:
            raise ConfigError(
                f"database {str(db_path)!r} was built with {census:,} employees (its census), "
                f"the configuration says {wanted:,}",
                key="simulation.employees",
                hint=f"pass --employees {census}, or the --config the database was run with",
            )
