"""The navsnap exception tree.

Every error navsnap raises on purpose derives from :class:`NavsnapError`. Each class carries
the process exit code the CLI uses for it, so the mapping lives in one place and
``docs/exit-codes.md`` is generated from this tree (a test keeps them in step)::

    NavsnapError (1)
    ├── UsageError (2)              bad arguments, conflicting flags
    ├── ConfigError (3)             config file missing, malformed, unknown key, wrong type or range
    ├── DatabaseError (4)           database path missing, a directory/device/FIFO, unopenable
    ├── StepError (5)               a step failed, or lost tables/rows or wrote no row of its year
    ├── StoreError (6)              store URL/path unusable, not a navsnap store, I/O failure
    │   ├── SnapshotNotFound (7)    no snapshot matches the request
    │   ├── IntegrityError (8)      an object or manifest does not match its recorded hash
    │   └── FormatVersionError (9)  written by a newer navsnap (unknown format version)
    │       └── EngineVersionError (9)  taken with a newer DuckDB than the running one
    ├── DriftError (10)             --resume, or a new run, on another configuration's snapshot
    │   └── ChainError (10)         --resume would replace the database's state with another chain's
    ├── LockHeld (11)               another process holds the database or store lock
    ├── RestoreError (12)           a restored database did not match its manifest (or held more)
    ├── DiskFullError (13)          no space left while writing; temporary files removed
    └── VerifyFailed (14)           verify found missing, corrupt or orphaned objects

Exit code 1 is kept for unexpected internal errors (a bug); 130 for an interrupt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass

__all__ = [
    "ChainError",
    "ChangedInput",
    "ChangedKey",
    "ConfigError",
    "DatabaseError",
    "DiskFullError",
    "DriftError",
    "EngineVersionError",
    "FormatVersionError",
    "IntegrityError",
    "LockHeld",
    "NavsnapError",
    "RestoreError",
    "SnapshotNotFound",
    "StepError",
    "StoreError",
    "UsageError",
    "VerifyFailed",
    "all_error_classes",
    "cause",
    "check_non_negative",
]


class NavsnapError(Exception):
    """Root of every error navsnap raises on purpose."""

    exit_code: int = 1
    #: A short, one-line hint that tells the user how to fix the problem.
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def one_line(self) -> str:
        """The message and the hint on a single line, as the CLI prints it."""
        text = " ".join(self.message.split())
        if self.hint:
            text = f"{text} ({' '.join(self.hint.split())})"
        return text

    def fields(self) -> dict[str, object]:
        """The structured fields set besides message and hint (``changed_keys``, ``year``,
        ``holder``...), as plain JSON-ready values: ``--json`` prints them with the error."""
        return {
            name: _plain(value)
            for name, value in vars(self).items()
            if not name.startswith("_") and name != "hint"
        }


class UsageError(NavsnapError, ValueError):
    """Bad command-line arguments or conflicting options."""

    exit_code = 2


class ConfigError(NavsnapError, ValueError):
    """The configuration file is missing, malformed or holds a bad value."""

    exit_code = 3

    def __init__(self, message: str, *, key: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class DatabaseError(NavsnapError, OSError):
    """The database path cannot be used (missing, a directory, device or FIFO, unopenable)."""

    exit_code = 4


class StepError(NavsnapError, RuntimeError):
    """A step failed, lost tables or rows, or wrote no row of its year (not snapshotted).

    Also raised when a step leaves the database without a table it had, empties a table,
    or leaves no row of its year in any year-scoped table (``navsnap.yearcheck``).
    """

    exit_code = 5

    def __init__(
        self, message: str, *, year: int, log_path: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.year = year
        self.log_path = log_path


class StoreError(NavsnapError, OSError):
    """The snapshot store cannot be used."""

    exit_code = 6


class SnapshotNotFound(StoreError, LookupError):
    """No snapshot matches the request."""

    exit_code = 7


class IntegrityError(StoreError):
    """An object or manifest does not match its recorded hash or size."""

    exit_code = 8

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        snapshot_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.snapshot_id = snapshot_id


class FormatVersionError(StoreError):
    """The store or a manifest was written by a navsnap whose format this one does not know."""

    exit_code = 9


class EngineVersionError(FormatVersionError):
    """A snapshot was taken with a newer DuckDB than the one navsnap runs on."""

    exit_code = 9

    def __init__(self, message: str, *, needed: str, running: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.needed = needed
        self.running = running


@dataclass(frozen=True)
class ChangedKey:
    """One configuration key whose value differs between a snapshot and the current config."""

    key: str
    old: object
    new: object


@dataclass(frozen=True)
class ChangedInput:
    """One declared input file whose hash differs (None: absent on that side)."""

    path: str
    old: str | None
    new: str | None


class DriftError(NavsnapError):
    """The configuration differs from the snapshot's (--resume; a new run on its database).

    ``--resume`` against a snapshot of another configuration hash, and a plain ``run`` on a
    database whose newest snapshot is of another lineage.
    """

    exit_code = 10

    def __init__(
        self,
        message: str,
        *,
        changed_keys: Sequence[ChangedKey] = (),
        changed_inputs: Sequence[ChangedInput] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.changed_keys = tuple(changed_keys)
        self.changed_inputs = tuple(changed_inputs)


class ChainError(DriftError):
    """--resume would replace the database's state with an older or another chain's snapshot."""

    exit_code = 10

    def __init__(self, message: str, *, holds: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        #: The snapshot the live database matches (None: it holds years no snapshot has).
        self.holds = holds


class LockHeld(NavsnapError, TimeoutError):
    """Another process holds the lock."""

    exit_code = 11

    def __init__(
        self, message: str, *, holder: dict[str, object] | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.holder = dict(holder or {})


class RestoreError(NavsnapError):
    """A restore could not be completed, or its result did not match (or exceeded) the manifest."""

    exit_code = 12


class DiskFullError(NavsnapError, OSError):
    """A disk filled up (the store, a restore target or the database); temporaries removed."""

    exit_code = 13


class VerifyFailed(NavsnapError):
    """verify found at least one problem."""

    exit_code = 14


def _plain(value: object) -> object:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def cause(error: BaseException | str, *, width: int = 120) -> str:
    """The first line of an error, for quoting inside another message: whitespace folded, and
    when longer than ``width`` cut at a word boundary with an ellipsis (never mid-word)."""
    text = str(error).strip()
    if not text:
        return type(error).__name__ if isinstance(error, BaseException) else ""
    text = " ".join(text.splitlines()[0].split())
    if len(text) <= width:
        return text
    limit = width - 3
    if text[limit] == " ":
        cut = text[:limit]
    elif " " in text[:limit]:
        cut = text[:limit].rsplit(" ", 1)[0]  # the last whole word that fits
    else:
        cut = text.split(" ", 1)[0]  # a single over-long word is kept whole
    return cut.rstrip(" ,;:(") + "..."


def check_non_negative(value: float, name: str) -> None:
    """UsageError unless ``value`` is a finite number, 0 or more. ``nan`` compares false with
    everything, so it passes any range check: a grace or a wait of nan would act as none."""
    if not math.isfinite(value) or value < 0:
        raise UsageError(f"{name} {value!r} is not a finite number of 0 or more")


def all_error_classes() -> list[type[NavsnapError]]:
    """Every error class, root first, in the order of the tree above."""
    return [
        NavsnapError,
        UsageError,
        ConfigError,
        DatabaseError,
        StepError,
        StoreError,
        SnapshotNotFound,
        IntegrityError,
        FormatVersionError,
        EngineVersionError,
        DriftError,
        ChainError,
        LockHeld,
        RestoreError,
        DiskFullError,
        VerifyFailed,
    ]
