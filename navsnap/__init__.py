"""navsnap: recoverable multi-year DuckDB simulations.

Snapshots at every year boundary (content-addressed Parquet plus schema DDL and a verified
manifest), restore to any boundary from the store alone, and resume that gives exactly the
tables an uninterrupted run gives.

The library never prints: it logs its decisions (resume start point, reused and new
partitions, lock takeovers) to the ``navsnap`` logger, silent unless the application
configures logging (the CLI's ``-v`` shows them).
"""

import importlib
import logging
import sys
import types
from typing import TYPE_CHECKING, Any

from navsnap._version import __version__
from navsnap.errors import (
    ChainError,
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

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers
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
        resume,
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
    "ChainError",
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

#: Public name -> (module, attribute), imported on first use: ``import navsnap`` (and every
#: CLI start) stays cheap, and a command imports only the modules it runs.
_FROM: dict[str, str] = {
    "navsnap.analyst": "AttachReport QueryResult",
    "navsnap.api": "SnapshotListing SnapshotSummary attach checkpoint info list_snapshots "
    "prune restore resume show sql status tag unlock untag",
    "navsnap.config": "Config load_config",
    "navsnap.diff": "ManifestDiff",
    "navsnap.lock": "UnlockReport",
    "navsnap.manifest": "Manifest",
    "navsnap.restore": "RestorePlan RestoreReport",
    "navsnap.resume": "ResumeDecision",
    "navsnap.retention": "PruneReport RetentionPolicy",
    "navsnap.runner": "RunEvent RunReport YearResult parse_years run",
    "navsnap.store": "Store open_store",
    "navsnap.summary": "StoreInfo",
    "navsnap.tags": "TagChange",
    "navsnap.verify": "VerifyReport",
}
_LAZY: dict[str, tuple[str, str]] = {
    **{name: (module, name) for module, names in _FROM.items() for name in names.split()},
    "diff_snapshots": ("navsnap.api", "diff"),
    "verify_store": ("navsnap.api", "verify"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:  # a submodule (``from navsnap import api``) or a typo
        raise AttributeError(f"module 'navsnap' has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Keeps ``navsnap.restore`` and ``navsnap.resume`` the public functions: the import
    system sets a submodule on its package when it is first imported, and here a submodule
    never replaces a public name."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

# Silent by default: an application that configures logging sees the records.
logging.getLogger(__name__).addHandler(logging.NullHandler())
