"""navsnap: recoverable multi-year DuckDB simulations.

Snapshots at every year boundary (content-addressed Parquet plus schema DDL and a verified
manifest), restore to any boundary from the store alone, and resume that gives exactly the
tables an uninterrupted run gives.
"""

from navsnap._version import __version__
from navsnap.api import SnapshotSummary, checkpoint, list_snapshots, restore, show, status
from navsnap.config import Config, load_config
from navsnap.errors import (
    ConfigError,
    DatabaseError,
    DiskFullError,
    DriftError,
    FormatVersionError,
    IntegrityError,
    LockHeld,
    NavsnapError,
    RestoreError,
    SnapshotNotFound,
    StepError,
    StoreError,
    UsageError,
    VerifyFailed,
)
from navsnap.manifest import Manifest
from navsnap.restore import RestorePlan, RestoreReport
from navsnap.resume import ResumeDecision
from navsnap.runner import RunEvent, RunReport, YearResult, parse_years, run
from navsnap.storage import Store, open_store

__all__ = [
    "Config",
    "ConfigError",
    "DatabaseError",
    "DiskFullError",
    "DriftError",
    "FormatVersionError",
    "IntegrityError",
    "LockHeld",
    "Manifest",
    "NavsnapError",
    "RestoreError",
    "RestorePlan",
    "RestoreReport",
    "ResumeDecision",
    "RunEvent",
    "RunReport",
    "SnapshotNotFound",
    "SnapshotSummary",
    "StepError",
    "Store",
    "StoreError",
    "UsageError",
    "VerifyFailed",
    "YearResult",
    "__version__",
    "checkpoint",
    "list_snapshots",
    "load_config",
    "open_store",
    "parse_years",
    "restore",
    "run",
    "show",
    "status",
]
