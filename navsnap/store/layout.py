"""The store's file layout: the only module that spells a path inside a store.

Every other module asks this one for a key (a ``/``-separated path relative to the store
root) and never writes ``"manifests/"`` or ``"objects/"`` itself; a test greps the package
to keep it so. See ``docs/format.md`` for what each file holds::

    <store>/
      navsnap-store.json           MARKER
      manifests/<snapshot>.json    manifest_key()
      objects/<h[:2]>/<h>.<ext>    object_key(), parse_object_key()
      objects/<h[:2]>/<h>.hot.duckdb[.zst]   hot_key() (the hot tier's whole-file copies)
      tags/<name>.json             tag_key()
      state/<name>.json            state_key() (advisory records, e.g. verification)
      locks/prune.lock[.json]      PRUNE_LOCK_FILE (local stores: an OS file lock + holder)
      locks/prune.json             PRUNE_LOCK_OBJECT (object stores: a lock object with a TTL)
      locks/writers/<...>.json     writer_key() (a checkpoint in progress)
      tmp/                         temp_key() (local writers' temporary files)

Object keys read from a store (a manifest's ``key`` fields) are untrusted input: use
:func:`parse_object_key` to check one before it is opened.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = [
    "LOCKS",
    "MANIFESTS",
    "MARKER",
    "OBJECTS",
    "PRUNE_LOCK_FILE",
    "PRUNE_LOCK_INFO",
    "PRUNE_LOCK_OBJECT",
    "STATE",
    "TAGS",
    "TMP",
    "WRITERS",
    "ObjectKey",
    "hot_key",
    "is_made_id",
    "is_run_id",
    "is_snapshot_id",
    "manifest_id",
    "manifest_key",
    "object_digest",
    "object_key",
    "parse_object_key",
    "run_of",
    "state_key",
    "tag_key",
    "tag_name",
    "temp_key",
    "temp_name",
    "temp_owner_pid",
    "writer_key",
]

#: The store marker: ``{"format": "navsnap-store", "version": N}``.
MARKER = "navsnap-store.json"
MANIFESTS = "manifests"
OBJECTS = "objects"
TAGS = "tags"
STATE = "state"
TMP = "tmp"
LOCKS = "locks"
#: Local stores: the OS lock file of the single pruner; its holder is recorded beside it.
PRUNE_LOCK_FILE = f"{LOCKS}/prune.lock"
PRUNE_LOCK_INFO = f"{PRUNE_LOCK_FILE}.json"
#: Object stores: the pruner's lock object (created with a conditional PUT, carries a TTL).
PRUNE_LOCK_OBJECT = f"{LOCKS}/prune.json"
#: One marker per checkpoint in progress.
WRITERS = f"{LOCKS}/writers"

_JSON = ".json"
_DIGEST = re.compile(r"[0-9a-f]{32}")
_EXT = re.compile(r"[A-Za-z0-9]{1,16}(?:\.[A-Za-z0-9]{1,16}){0,2}")
#: A name a user gives: a tag name, and a run id (``checkpoint --run``). Letters, digits,
#: ``._-``, at most 100, starting with a letter or digit: never ``/``, ``@``, a space or ``..``
#: alone, so it is one file name in the store and one part of a ``RUN@YEAR`` reference.
_USER_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_TAG = re.compile(_USER_NAME)
_RUN_ID = _TAG
#: ``<run id>-<year>`` (years 1-9999, as ``--years`` takes them).
_SNAPSHOT_ID = re.compile(rf"{_USER_NAME}-[0-9]{{1,4}}")
#: The run ids navsnap makes (``new_run_id``), alone or as a snapshot id: a tag name of this
#: shape would take the place of the run in ``RUN@YEAR`` references.
_MADE_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4}(?:-[0-9]{1,4})?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_TEMP_KINDS = ("stage", "part", "probe")


# --------------------------------------------------------------------------- manifests


def manifest_key(snapshot_id: str) -> str:
    """``manifests/<snapshot_id>.json``."""
    return f"{MANIFESTS}/{snapshot_id}{_JSON}"


def manifest_id(key: str) -> str | None:
    """The snapshot id of a manifest key from a listing, or None for any other key."""
    folder, _, name = key.rpartition("/")
    if folder != MANIFESTS or not name.endswith(_JSON) or len(name) == len(_JSON):
        return None
    return name[: -len(_JSON)]


def is_run_id(text: str) -> bool:
    """True when ``text`` may be a run id (as a tag name may be a tag name)."""
    return _RUN_ID.fullmatch(text) is not None


def is_snapshot_id(text: str) -> bool:
    """True when ``text`` has the form of a snapshot id, ``<run id>-<year>``: one manifest
    file name, never a path out of ``manifests/``."""
    return _SNAPSHOT_ID.fullmatch(text) is not None


def run_of(snapshot_id: str) -> str:
    """The run id of snapshot id ``<run id>-<year>``."""
    return snapshot_id.rpartition("-")[0]


def is_made_id(text: str) -> bool:
    """True when ``text`` has the shape of a run id navsnap makes, or of a snapshot id of
    such a run (``20261127T103500Z-3f2a``, ``20261127T103500Z-3f2a-2027``)."""
    return _MADE_ID.fullmatch(text) is not None


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True)
class ObjectKey:
    """A parsed object key: ``objects/<digest[:2]>/<digest>.<ext>``."""

    digest: str  # xxh3-128 of the object's bytes, 32 lowercase hex digits
    ext: str  # e.g. "parquet", "duckdb", "duckdb.zst"

    @property
    def key(self) -> str:
        return f"{OBJECTS}/{self.digest[:2]}/{self.digest}.{self.ext}"

    @property
    def filename(self) -> str:
        return f"{self.digest}.{self.ext}"


def object_key(digest: str, ext: str) -> str:
    """``objects/<digest[:2]>/<digest>.<ext>``; ValueError for a malformed digest or ext."""
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"{digest!r} is not an xxh3-128 hex digest")
    if not _EXT.fullmatch(ext):
        raise ValueError(f"{ext!r} is not an object extension")
    return ObjectKey(digest, ext).key


def hot_key(digest: str, *, compressed: bool) -> str:
    """``objects/<digest[:2]>/<digest>.hot.duckdb[.zst]``: a hot-tier copy of a database file
    (an object like any other, named by the hash of its stored bytes)."""
    return object_key(digest, "hot.duckdb.zst" if compressed else "hot.duckdb")


def parse_object_key(key: str) -> ObjectKey:
    """Check that ``key`` is exactly ``objects/<h[:2]>/<h>.<ext>`` (h: 32 lowercase hex
    digits, ext: one to three dot-separated alphanumeric parts) and split it.

    ValueError for anything else: another folder, a fan-out folder that is not the digest's
    first two digits, ``..``, absolute paths, backslashes, empty parts.
    """
    parts = key.split("/")
    if len(parts) != 3 or parts[0] != OBJECTS:
        raise ValueError(f"{key!r} is not an object key")
    fan, name = parts[1], parts[2]
    digest, dot, ext = name.partition(".")
    if not dot or not _DIGEST.fullmatch(digest) or not _EXT.fullmatch(ext):
        raise ValueError(f"{key!r} is not an object key")
    if fan != digest[:2]:
        raise ValueError(f"{key!r} is not an object key (folder {fan!r} is not its prefix)")
    return ObjectKey(digest, ext)


def object_digest(key: str) -> str | None:
    """The xxh3-128 named by an object key, or None when ``key`` is not one."""
    try:
        return parse_object_key(key).digest
    except ValueError:
        return None


# --------------------------------------------------------------------------- tags, state


def tag_key(name: str) -> str:
    """``tags/<name>.json``; ValueError unless ``name`` is letters, digits, ``._-`` (<= 100),
    starting with a letter or digit."""
    if not _TAG.fullmatch(name):
        raise ValueError(f"tag name {name!r} is not allowed")
    return f"{TAGS}/{name}{_JSON}"


def tag_name(key: str) -> str | None:
    """The tag name of a key from a listing of ``tags/``, or None for any other key."""
    folder, _, name = key.rpartition("/")
    if folder != TAGS or not name.endswith(_JSON):
        return None
    stem = name[: -len(_JSON)]
    return stem if _TAG.fullmatch(stem) else None


def state_key(name: str) -> str:
    """``state/<name>.json`` (advisory records such as ``verified``)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"state name {name!r} is not allowed")
    return f"{STATE}/{name}{_JSON}"


# --------------------------------------------------------------------------- writers


def writer_key(host: str, pid: int) -> str:
    """A fresh ``locks/writers/<host>-<pid>-<random>.json`` for a checkpoint in progress."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", host) or "host"
    return f"{WRITERS}/{safe}-{pid}-{os.urandom(4).hex()}{_JSON}"


def temp_key(kind: str, *, pid: int | None = None) -> str:
    """A fresh ``tmp/<kind>-<pid>-<random>``; ``kind`` is ``stage``, ``part`` or ``probe``.

    The pid in the name lets :func:`temp_owner_pid` tell a live writer's file from a dead one's.
    """
    if kind not in _TEMP_KINDS:
        raise ValueError(f"unknown temporary kind {kind!r}")
    owner = os.getpid() if pid is None else pid
    return f"{TMP}/{temp_name(kind, pid=owner)}"


def temp_name(kind: str, *, pid: int | None = None) -> str:
    """The last part of :func:`temp_key` (for a temporary made by ``tempfile`` in ``tmp/``)."""
    owner = os.getpid() if pid is None else pid
    return f"{kind}-{owner}-{os.urandom(8).hex()}"


def temp_owner_pid(name: str) -> int | None:
    """The pid in a temporary name (``<kind>-<pid>-...``), or None."""
    _kind, _, rest = name.partition("-")
    pid, _, _ = rest.partition("-")
    if not pid.isdigit():
        return None
    return int(pid)
