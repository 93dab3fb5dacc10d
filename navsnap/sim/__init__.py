"""The built-in deterministic workforce and retirement-plan simulation, in DuckDB SQL.

``run_year`` simulates one year and inserts only that year's rows into ``YEAR_TABLES``;
``validation_aggregates`` summarises one year for a snapshot manifest. See
``docs/simulation.md`` for the events, tables and configuration keys.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from navsnap.sim.model import run_year
    from navsnap.sim.params import SimulationParams
    from navsnap.sim.schema import GLOBAL_TABLES, YEAR_TABLES
    from navsnap.sim.validation import validation_aggregates

#: Imported on first use: the configuration reads ``navsnap.sim.params`` without DuckDB.
_FROM = {
    "run_year": "navsnap.sim.model",
    "SimulationParams": "navsnap.sim.params",
    "GLOBAL_TABLES": "navsnap.sim.schema",
    "YEAR_TABLES": "navsnap.sim.schema",
    "validation_aggregates": "navsnap.sim.validation",
}


def __getattr__(name: str) -> Any:
    if name not in _FROM:
        raise AttributeError(f"module 'navsnap.sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(_FROM[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "GLOBAL_TABLES",
    "YEAR_TABLES",
    "SimulationParams",
    "run_year",
    "validation_aggregates",
]
