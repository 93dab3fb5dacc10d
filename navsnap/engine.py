"""The running DuckDB engine, and every difference between the releases navsnap supports.

navsnap runs inside its user's environment, on the DuckDB their pipeline pins: any release
from 1.0.0 through 2.x. Whatever differs between those releases is decided here, once, from
the running engine's version; other modules use the names below and never test a version
themselves. The differences, each measured (the core tests run under 1.0, 1.1, 1.4, 1.5 and
2.0 and keep this list honest):

- ``duckdb_constraints()`` names a foreign key's table in ``referenced_table`` from 1.1; 1.0
  has only the constraint's text (:data:`FK_REFERENCED_TABLE`).
- ``ATTACH ... (STORAGE_VERSION 'vX.Y.Z')`` exists from 1.2. 1.0 and 1.1 write every new file
  in the storage every release from 1.0 opens, so they need no option (:func:`attach_options`).
- ``duckdb_databases().tags['storage_version']`` is empty before 1.2, a range
  (``'v1.0.0 - v1.1.3'``) in 1.2 and a lower bound (``'v1.0.0+'``) from 1.3
  (:func:`storage_tag`).
- Releases before 2.0 create files in 1.0-compatible storage by default; 2.0 in its own.
- 1.0 and 1.1 do not escape quotes inside the text of nested values (1.4 does:
  :data:`NESTED_TEXT_ESCAPED_FROM`), so some nested values do not cast back from their text.
- Before 1.2 a transaction cannot delete keyed rows and insert the same keys again
  (:func:`cannot_rewrite`); 1.0 lists the system schemas of a reopened file as user
  schemas (:data:`USER_SCHEMAS`); before 2.0 a reopened file's sequence reports its next value
  as its last (:func:`sequence_last_value`), and ``nextval('...')`` does not read a doubled
  quote inside a quoted name (2.0 does), so a sequence whose name holds ``"`` cannot be
  advanced.
- ``COPY ... (PARQUET_VERSION V1)`` exists from 1.2; every release so far writes V1 by
  default. navsnap names V1 where it can (:data:`PARQUET_VERSION_OPTION`), so a release
  that changed its default would not change what navsnap's objects are: V2's delta encoding
  of an INTEGER column spanning the whole range is refused by pyarrow and read as other
  numbers by 1.0 (``scripts/bench_codec.py``).
- ``hash()`` differs between 1.0, 1.2, 1.4 and 2.0 (1.0 = 1.1 and 1.4 = 1.5, measured; 2.0
  hashes INTERVAL, TIMETZ, BIT and nested values holding them otherwise, and follows a
  VARCHAR column's collation: :data:`HASH_FOLLOWS_COLLATION`), so fingerprints compare only
  between releases of one :func:`hash_family`.
- ``duckdb_columns()`` says which columns are generated from 2.0 (:data:`GENERATED_FLAG`);
  before, a generated column shows only as a ``column_default``, and binding an INSERT into
  it fails (:func:`navsnap.materialize.generated_columns` asks that on a cursor of its own).
- Before 2.0, ``duckdb_tables().sql`` leaves a FOREIGN KEY that references its own table
  out, writing an empty item in its place (``boss INTEGER, );``); navsnap writes the clause
  back from ``duckdb_constraints()`` (:data:`SELF_REFERENCE_IN_SQL`), which names the
  referenced columns from 1.1 (:data:`FK_REFERENCED_COLUMNS`): under 1.0 such a table is
  refused at checkpoint.
- 1.0 reads the type text ``ENUM('a', 'b')[]`` (its own spelling of a LIST of ENUM) as
  ``ENUM('a', 'b')``, so a table DDL holding it creates another column type
  (:data:`ENUM_LIST_TEXT_PARSES`): refused at checkpoint under 1.0.

A file written by a newer engine, or in a newer storage version, cannot be written by an older
one: :func:`check_restorable` refuses such a snapshot before anything changes and names the
release to install where navsnap runs.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from typing import Final, Protocol

import duckdb

from navsnap.errors import EngineVersionError

__all__ = [
    "ATTACH_STORAGE_VERSION",
    "ENUM_LIST_TEXT_PARSES",
    "FK_REFERENCED_COLUMNS",
    "FK_REFERENCED_TABLE",
    "GENERATED_FLAG",
    "HASH_FOLLOWS_COLLATION",
    "MINIMUM",
    "NESTED_TEXT_ESCAPED_FROM",
    "OLDEST_ATTACH_OPTIONS",
    "OLDEST_FILE_CONFIG",
    "PARQUET_VERSION_OPTION",
    "REINSERTS_DELETED_KEYS",
    "RUNNING",
    "SELF_REFERENCE_IN_SQL",
    "USER_SCHEMAS",
    "VERSION",
    "Taken",
    "attach_options",
    "cannot_rewrite",
    "check_restorable",
    "hash_family",
    "parse_version",
    "restore_storage",
    "same_hash",
    "sequence_last_value",
    "storage_tag",
]

_VERSION_RE = re.compile(r"v?(\d{1,4})\.(\d{1,4})\.(\d{1,4})")


def parse_version(text: object) -> tuple[int, int, int] | None:
    """``(major, minor, patch)`` of a DuckDB release or storage version string
    (``'1.1.3'``, ``'v1.0.0'``, ``'1.5.0.dev42'``); None when ``text`` names none."""
    if not isinstance(text, str):
        return None
    m = _VERSION_RE.match(text.strip())
    if m is None:
        return None
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)))


#: The running DuckDB's version string, as a manifest records it.
VERSION: Final[str] = duckdb.__version__
#: The oldest DuckDB release navsnap supports (pyproject.toml: ``duckdb>=1.0,<3``).
MINIMUM: Final = (1, 0, 0)
RUNNING: Final[tuple[int, int, int]] = parse_version(VERSION) or MINIMUM

# What releases before 2.0 write by default, and what 1.0 and 1.1 write always.
_OLD_DEFAULT_STORAGE = "v1.0.0"

#: SQL over ``duckdb_constraints()`` naming the table a FOREIGN KEY row references.
FK_REFERENCED_TABLE: Final[str] = (
    "referenced_table"
    if RUNNING >= (1, 1, 0)
    else "replace(regexp_replace(regexp_extract(constraint_text, "
    r"""'REFERENCES\s+(?:(?:"(?:[^"]|"")*"|[^."(\s]+)\.)?("(?:[^"]|"")*"|[^."(\s]+)\s*\(', 1), """
    r"""'^"(.*)"$', '\1'), '""', '"')"""
)

#: Whether ``duckdb_constraints()`` has ``referenced_column_names`` (from 1.1).
FK_REFERENCED_COLUMNS: Final[bool] = RUNNING >= (1, 1, 0)

#: Whether ``duckdb_tables().sql`` writes a FOREIGN KEY that references its own table (2.0;
#: before, an empty item stands in its place).
SELF_REFERENCE_IN_SQL: Final[bool] = RUNNING >= (2, 0, 0)

#: Whether ``duckdb_columns()`` has ``is_generated`` (2.0).
GENERATED_FLAG: Final[bool] = RUNNING >= (2, 0, 0)

#: Whether the type text ``ENUM(...)[]`` (a LIST or ARRAY of an ENUM, as DuckDB spells it in
#: a table's DDL) reads back as that type (1.0 reads it as the ENUM alone).
ENUM_LIST_TEXT_PARSES: Final[bool] = RUNNING >= (1, 1, 0)

# The first release of each run of releases whose hash() agree, through the newest release
# measured (tests/test_engine_upgrade.py checks the running one against recorded values).
# 2.0 hashes INTERVAL, TIMETZ, BIT and collated VARCHAR values unlike 1.4 and 1.5.
_HASH_CHANGED = ((1, 0), (1, 2), (1, 4), (2, 0))
_HASH_MEASURED_UNTIL = (2, 0)


def hash_family(version: object) -> str | None:
    """The run of releases whose ``hash()`` agree that ``version`` belongs to, as its first
    release (``'1.0'``, ``'1.2'``, ``'1.4'``); a release newer than those measured is a family
    of its own (its major.minor). None when ``version`` names no release."""
    parsed = parse_version(version)
    if parsed is None:
        return None
    release = parsed[:2]
    if release > _HASH_MEASURED_UNTIL:
        return "{}.{}".format(*release)
    first = max((r for r in _HASH_CHANGED if r <= release), default=None)
    return None if first is None else "{}.{}".format(*first)


def same_hash(version: object) -> bool:
    """Whether fingerprints computed under DuckDB ``version`` compare with the running
    engine's: both releases hash every value alike."""
    family = hash_family(version)
    return family is not None and family == hash_family(VERSION)


#: Whether ``hash()`` of a VARCHAR value follows its column's collation (2.0: a NOCASE
#: column's ``'Alice'`` and ``'alice'`` hash alike); before 2.0 it hashes the bytes.
HASH_FOLLOWS_COLLATION: Final[bool] = RUNNING >= (2, 0, 0)

#: The first release measured to escape quotes inside the text of nested values (1.0 and 1.1
#: do not, so such text may not cast back: :func:`navsnap.catalog.text_unsafe_columns`).
NESTED_TEXT_ESCAPED_FROM: Final = "1.4.0"

#: Whether COPY to Parquet takes a PARQUET_VERSION option (navsnap always writes V1).
PARQUET_VERSION_OPTION: Final[bool] = RUNNING >= (1, 2, 0)

#: Whether ATTACH takes a STORAGE_VERSION option.
ATTACH_STORAGE_VERSION: Final[bool] = RUNNING >= (1, 2, 0)

#: ``duckdb.connect(config=...)`` for a new file every supported release opens (while it has
#: no PRIMARY KEY or UNIQUE index): 1.0 storage. 2.0 writes its own storage by default.
OLDEST_FILE_CONFIG: Final[dict[str, str | bool | int | float | list[str]]] = (
    {"storage_compatibility_version": _OLD_DEFAULT_STORAGE} if RUNNING >= (1, 1, 0) else {}
)

#: A condition on ``duckdb_schemas()`` leaving out the system schemas, which 1.0 lists as
#: not internal in a file it has reopened.
USER_SCHEMAS: Final[str] = (
    "" if RUNNING >= (1, 1, 0) else " AND schema_name NOT IN ('information_schema', 'pg_catalog')"
)

#: Whether a transaction can delete rows of a table with PRIMARY KEY or UNIQUE and insert
#: rows with the same keys again (1.0 and 1.1 report a duplicate key until it commits).
REINSERTS_DELETED_KEYS: Final[bool] = RUNNING >= (1, 2, 0)

_KEYS = re.compile(r"\b(PRIMARY\s+KEY|UNIQUE)\b", re.IGNORECASE)


def cannot_rewrite(ddl: Iterable[str]) -> bool:
    """Whether the running engine cannot delete and reinsert, in one transaction, the rows of
    a table created by ``ddl`` (its CREATE TABLE and index statements; any key counts)."""
    return not REINSERTS_DELETED_KEYS and any(_KEYS.search(sql) for sql in ddl)


_SEQUENCE_START = re.compile(r"\bSTART (?:WITH )?(-?\d+)")


def sequence_last_value(
    last_value: int | None,
    sql: str | None,
    increment: int,
    *,
    minimum: int,
    maximum: int,
    cycle: bool,
) -> int | None:
    """The value a sequence handed out last, from a ``duckdb_sequences()`` row (None: it has
    handed out none).

    Before 2.0, a sequence of a reopened file reports its next value as ``last_value`` (and
    ``currval`` gives it too); the ``sql`` column's START is the next value under every
    release, so the last one is START less the increment. A CYCLE sequence whose next value
    wrapped to its first gives a value outside its range: the last one is then taken as its
    other end, from which the next value wraps the same way (an older release keeps no more
    than the next value, measured in tests/test_catalog_restorable.py).
    """
    if last_value is None or RUNNING >= (2, 0, 0) or sql is None:
        return last_value
    m = _SEQUENCE_START.search(sql)
    if m is None:
        return last_value
    last = int(m.group(1)) - increment
    if cycle and not minimum <= last <= maximum:
        last = maximum if increment > 0 else minimum
    return last


def storage_tag(value: object) -> str | None:
    """The storage version in a ``duckdb_databases().tags['storage_version']`` value, as
    ``'vX.Y.Z'`` (the oldest release that opens the file), whatever the release's spelling."""
    if isinstance(value, list):  # map lookups returned a list before 1.1
        value = value[0] if value else None
    version = parse_version(value)
    return None if version is None else "v{}.{}.{}".format(*version)


def restore_storage(storage_version: str | None, writer: str) -> str | None:
    """The storage version a restored file is written in: the original file's.

    Manifests written under 1.0 and 1.1 record none; their files were in 1.0 storage, as
    every file made by a release before 2.0 with default settings is.
    """
    tag = storage_tag(storage_version)
    if tag is not None:
        return tag
    version = parse_version(writer)
    if version is not None and version < (2, 0, 0):
        return _OLD_DEFAULT_STORAGE
    return None


def attach_options(storage_version: str | None) -> str:
    """`` (STORAGE_VERSION 'vX.Y.Z')`` for ATTACH where the running engine takes it, else ''.

    ``storage_version`` comes from a manifest: only a well-formed version reaches the SQL.
    """
    tag = storage_tag(storage_version)
    if tag is None or not ATTACH_STORAGE_VERSION:
        return ""
    return f" (STORAGE_VERSION '{tag}')"


#: ATTACH options for a new file every supported release opens: what
#: :data:`OLDEST_FILE_CONFIG` is to ``duckdb.connect`` (before 1.2, ATTACH writes that
#: storage without being asked).
OLDEST_ATTACH_OPTIONS: Final[str] = attach_options(_OLD_DEFAULT_STORAGE)


def _release(version: tuple[int, int, int]) -> tuple[int, int]:
    return version[:2]


class Taken(Protocol):
    """What a manifest says about the engine a snapshot was taken with."""

    @property
    def snapshot_id(self) -> str: ...
    @property
    def duckdb_version(self) -> str: ...
    @property
    def storage_version(self) -> str | None: ...


def check_restorable(snapshot: Taken) -> None:
    """Refuse a snapshot this engine cannot restore faithfully, before anything changes.

    A snapshot taken under a newer DuckDB release (major.minor) than the running one, or of a
    file in a newer storage version, may hold types, SQL and storage this engine cannot write;
    restoring it needs that release (or a newer one) where navsnap runs.
    """
    writer, storage_version = snapshot.duckdb_version, snapshot.storage_version
    wrote = parse_version(writer)
    storage = parse_version(storage_version)
    needed: str | None = None
    if wrote is not None and _release(wrote) > _release(RUNNING):
        needed = "{}.{}.{}".format(*wrote)
    elif storage is not None and _release(storage) > _release(RUNNING):
        needed = "{}.{}.{}".format(*storage)
    if needed is None:
        return
    # Only the parsed numbers of the (untrusted) manifest reach the message.
    taken = "unknown" if wrote is None else "{}.{}.{}".format(*wrote)
    stored = storage_tag(storage_version) or "unknown"
    raise EngineVersionError(
        f"snapshot {snapshot.snapshot_id} was taken with DuckDB {taken} (storage {stored}); "
        f"the running DuckDB {VERSION} cannot write its file",
        hint=f"install it where navsnap runs: {sys.executable} -m pip install 'duckdb=={needed}'",
        needed=needed,
        running=VERSION,
    )
