"""The built-in deterministic workforce and retirement-plan simulation, in DuckDB SQL.

``run_year`` simulates one year and inserts only that year's rows into ``YEAR_TABLES``;
``validation_aggregates`` summarises one year for a snapshot manifest. See
``docs/simulation.md`` for the events, tables and configuration keys.
"""

from __future__ import annotations

from navsnap.sim.model import run_year
from navsnap.sim.params import SimulationParams
from navsnap.sim.schema import GLOBAL_TABLES, YEAR_TABLES
from navsnap.sim.validation import validation_aggregates

__all__ = [
    "GLOBAL_TABLES",
    "YEAR_TABLES",
    "SimulationParams",
    "run_year",
    "validation_aggregates",
]
