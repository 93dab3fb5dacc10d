"""navsnap: recoverable multi-year DuckDB simulations.

Snapshots at every year boundary (content-addressed Parquet plus schema DDL and a verified
manifest), restore to any boundary from the store alone, and resume that gives exactly the
tables an uninterrupted run gives.

The library never prints: it logs its decisions (resume start point, reused and new
partitions, lock takeovers) to the ``navsnap`` logger, silent unless the application
configures logging (the CLI's ``-v`` shows them).
"""

import logging

from navsnap._version import __version__
from navsnap.analyst import AttachReport, QueryResult
from navsnap.api import (
    SnapshotListing,
    SnapshotSummary,
    attach,
    checkpoint,
    info,
    list_snapshots,
    prune,
    restore,
    show,
    sql,
    status,
    tag,
    unlock,
    untag,
)
from navsnap.api import diff as diff_snapshots
from navsnap.api import verify as verify_store
from navsnap.config import Config, load_config
from navsnap.diff import ManifestDiff
from navsnap.errors import (
    ConfigError,
    DatabaseError,
    DiskFullError,
    DriftError,
    EngineVersionError,
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
from navsnap.lock import UnlockReport
from navsnap.manifest import Manifest
from navsnap.restore import RestorePlan, RestoreReport
from navsnap.resume import ResumeDecision
from navsnap.retention import PruneReport, RetentionPolicy
from navsnap.runner import RunEvent, RunReport, YearResult, parse_years, run
from navsnap.store import Store, open_store
from navsnap.summary import StoreInfo
from navsnap.tags import TagChange
from navsnap.verify import VerifyReport

__all__ = [
    "AttachReport",
    "Config",
    "ConfigError",
    "DatabaseError",
    "DiskFullError",
    "DriftError",
    "EngineVersionError",
    "FormatVersionError",
    "IntegrityError",
    "LockHeld",
    "Manifest",
    "ManifestDiff",
    "NavsnapError",
    "PruneReport",
    "QueryResult",
    "RestoreError",
    "RestorePlan",
    "RestoreReport",
    "ResumeDecision",
    "RetentionPolicy",
    "RunEvent",
    "RunReport",
    "SnapshotListing",
    "SnapshotNotFound",
    "SnapshotSummary",
    "StepError",
    "Store",
    "StoreError",
    "StoreInfo",
    "TagChange",
    "UnlockReport",
    "UsageError",
    "VerifyFailed",
    "VerifyReport",
    "YearResult",
    "__version__",
    "attach",
    "checkpoint",
    "diff_snapshots",
    "info",
    "list_snapshots",
    "load_config",
    "open_store",
    "parse_years",
    "prune",
    "restore",
    "resume",
    "run",
    "show",
    "sql",
    "status",
    "tag",
    "unlock",
    "untag",
    "verify_store",
]

# Bound last: importing the submodule navsnap.resume would otherwise shadow the function.
from navsnap.api import resume

# Silent by default: an application that configures logging sees the records.
logging.getLogger(__name__).addHandler(logging.NullHandler())
