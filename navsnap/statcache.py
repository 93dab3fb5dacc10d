"""The stat cache beside a database: which snapshot navsnap last found the file to hold.

Like git's index, it lets ``navsnap status`` answer "the database matches snapshot X" without
fingerprinting every partition again (a scan that grows with the database). After a full
check finds that the live database equals a snapshot, navsnap writes ``<db>.navsnap.stat``
beside the database (atomically: a temporary file renamed over it). It records:

- the file's identity: ``st_dev``, ``st_ino``, ``st_size``, ``st_mtime_ns``, ``st_ctime_ns``,
  taken *before* the check began and unchanged after it, with no ``.wal`` beside the file;
- ``checked_at_ns``: the filesystem's own clock when the check began (the modification time
  of a file navsnap created there at that moment, so a network filesystem's clock is used,
  never this machine's);
- the DuckDB version that fingerprinted it and the year column;
- the year the database held, and the snapshots it matched, each with the ``integrity`` hash
  of its manifest (a manifest rewritten under the same id does not match);
- the SHA-256 of each DDL statement and column type text DuckDB's parser accepted while the
  manifests were read (the same text parses the same under the same DuckDB);
- on a local store, the identity of each object whose xxh3-128 the check verified.

:func:`load` returns the record only when every one of these still holds: the file's identity
is the same, there is no ``.wal`` and no navsnap writer holds the database lock, the engine
is the same, and the file is not *racily clean*: its mtime and ctime are at least
:data:`RACY_NS` older than ``checked_at_ns``. A write after the check began changes the
ctime (the kernel sets it, no user can), unless it landed in the same timestamp tick as the
recorded one; the margin rules that case out. An object is trusted under the same rules. The
file is untrusted input: anything that does not parse exactly as written means "no record",
so the caller scans as before. It is a cache: it is never needed, and deleting it is always
safe.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from navsnap.manifest import Manifest

__all__ = [
    "RACY_NS",
    "SUFFIX",
    "Cached",
    "FileIdentity",
    "Recorder",
    "begin",
    "cache_path",
    "load",
    "manifest_digest",
]

log = logging.getLogger(__name__)

#: The sidecar's name: ``<database file name>`` + this.
SUFFIX = ".navsnap.stat"
#: The record's format version; another version is not read (the caller scans).
VERSION = 1
#: A file changed less than this before its check began is racily clean: never trusted. It
#: covers coarse timestamps (2 s on FAT, a few ms on ext4's coarse clock).
RACY_NS = 3_000_000_000
#: A record larger than this is not read.
MAX_BYTES = 1 << 20
#: The snapshots, parsed texts and objects one record may name.
MAX_MATCHES = 64
MAX_PARSED = 4096
MAX_OBJECTS = 4096

_IDENTITY_KEYS = ("dev", "ino", "size", "mtime_ns", "ctime_ns")
_KEYS = {
    "format",
    "version",
    "file",
    "checked_at_ns",
    "engine",
    "year_column",
    "year",
    "matches",
    "parsed",
    "objects",
}
_FORMAT = "navsnap-stat"


def cache_path(db_path: Path) -> Path:
    """The stat cache of database ``db_path``."""
    return db_path.with_name(db_path.name + SUFFIX)


def _wal(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".wal")


def _writer_active(db_path: Path) -> bool:
    """A navsnap writer holds the database lock (its owner file exists while it is held)."""
    return os.path.lexists(db_path.with_name(db_path.name + ".navsnap.lock.json"))


@dataclass(frozen=True)
class FileIdentity:
    """What ``stat`` says about a file: any write changes at least its ctime."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: Path, *, follow: bool = True) -> FileIdentity | None:
        """The identity of regular file ``path`` (None: absent, not a regular file; with
        ``follow`` False, a symlink is not a regular file)."""
        try:
            st = os.stat(path) if follow else os.lstat(path)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def to_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in _IDENTITY_KEYS}

    def changed_before(self, checked_at_ns: int) -> bool:
        """Last changed at least :data:`RACY_NS` before ``checked_at_ns`` (not racily clean)."""
        return max(self.mtime_ns, self.ctime_ns) < checked_at_ns - RACY_NS


def manifest_digest(manifest: Manifest) -> str:
    """The ``integrity`` hash of a manifest's canonical JSON: what a record matched."""
    return str(manifest.to_dict()["integrity"])


@dataclass(frozen=True)
class Cached:
    """A record :func:`load` found valid for the database as it is now."""

    year: int | None
    year_column: str
    matches: frozenset[tuple[str, str]]
    checked_at_ns: int
    #: SHA-256 digests of texts DuckDB's parser accepted (:mod:`navsnap.manifest_check`).
    parsed: frozenset[str] = frozenset()
    #: Object key -> identity when its hash was verified (local stores only).
    objects: Mapping[str, FileIdentity] = field(default_factory=dict, compare=False)

    def holds(self, manifest: Manifest) -> bool:
        """Whether the database was found equal to exactly this manifest."""
        if not any(sid == manifest.snapshot_id for sid, _ in self.matches):
            return False
        return (manifest.snapshot_id, manifest_digest(manifest)) in self.matches

    def objects_unchanged(self, paths: Mapping[str, Path]) -> bool:
        """Whether every object (key -> its file) is the file whose hash was verified, and
        was last changed well before that check began."""
        for key, path in paths.items():
            known = self.objects.get(key)
            if known is None or not known.changed_before(self.checked_at_ns):
                return False
            if FileIdentity.of(path, follow=False) != known:
                return False
        return True


def _int(value: object) -> int:
    if type(value) is not int:
        raise ValueError("not an integer")
    return value


def _identity(value: object) -> FileIdentity:
    if not isinstance(value, dict) or set(value) != set(_IDENTITY_KEYS):
        raise ValueError("unexpected file identity keys")
    return FileIdentity(*(_int(value[k]) for k in _IDENTITY_KEYS))


def _parse(raw: bytes) -> tuple[FileIdentity, str, Cached]:
    """A record's file identity, engine and contents; ValueError/TypeError/KeyError on
    anything not exactly as written."""
    data = json.loads(raw)
    if not isinstance(data, dict) or set(data) != _KEYS:
        raise ValueError("unexpected keys")
    if data["format"] != _FORMAT or _int(data["version"]) != VERSION:
        raise ValueError("another format or version")
    identity = _identity(data["file"])
    engine, column = data["engine"], data["year_column"]
    if not isinstance(engine, str) or not isinstance(column, str):
        raise TypeError("engine and year_column are strings")
    year = None if data["year"] is None else _int(data["year"])
    matches = data["matches"]
    if not isinstance(matches, list) or not 0 < len(matches) <= MAX_MATCHES:
        raise ValueError("matches is not a short non-empty list")
    pairs: set[tuple[str, str]] = set()
    for item in matches:
        if not isinstance(item, dict) or set(item) != {"snapshot_id", "manifest"}:
            raise ValueError("unexpected match keys")
        sid, digest = item["snapshot_id"], item["manifest"]
        if not isinstance(sid, str) or not isinstance(digest, str) or not sid or not digest:
            raise TypeError("snapshot_id and manifest are non-empty strings")
        pairs.add((sid, digest))
    parsed = data["parsed"]
    if not isinstance(parsed, list) or len(parsed) > MAX_PARSED:
        raise ValueError("parsed is not a short list")
    if not all(isinstance(d, str) and len(d) == 64 for d in parsed):
        raise ValueError("parsed holds something other than SHA-256 digests")
    objects = data["objects"]
    if not isinstance(objects, dict) or len(objects) > MAX_OBJECTS:
        raise ValueError("objects is not a small mapping")
    known = {str(key): _identity(value) for key, value in objects.items()}
    cached = Cached(
        year, column, frozenset(pairs), _int(data["checked_at_ns"]), frozenset(parsed), known
    )
    return identity, engine, cached


def load(db_path: Path, *, engine: str) -> Cached | None:
    """The record beside ``db_path`` when it may be trusted now, else None (scan instead)."""
    if os.path.lexists(_wal(db_path)) or _writer_active(db_path):
        return None
    try:
        with open(cache_path(db_path), "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_BYTES:
        return None
    try:
        identity, rec_engine, cached = _parse(raw)
    except (ValueError, TypeError, KeyError, RecursionError):
        log.debug("%s: not a valid stat cache record; scanning", cache_path(db_path))
        return None
    if rec_engine != engine or not identity.changed_before(cached.checked_at_ns):
        return None  # another engine's, or racily clean
    if FileIdentity.of(db_path) != identity:
        return None
    return cached


@dataclass
class Recorder:
    """Collects what one check found, begun before the check looked at the file."""

    db_path: Path
    engine: str
    year_column: str
    identity: FileIdentity | None
    checked_at_ns: int
    year: int | None = None
    matched: list[tuple[str, str]] = field(default_factory=list)
    objects: dict[str, FileIdentity] = field(default_factory=dict)

    def matched_snapshot(self, manifest: Manifest) -> None:
        """The full check found the database equal to ``manifest``."""
        if len(self.matched) < MAX_MATCHES:
            self.matched.append((manifest.snapshot_id, manifest_digest(manifest)))

    def verified_objects(self, identities: Mapping[str, FileIdentity]) -> None:
        """These objects' hashes were verified while their files had these identities."""
        if len(self.objects) + len(identities) <= MAX_OBJECTS:
            self.objects.update(identities)

    def _record(self, parsed: Iterable[str]) -> dict[str, Any] | None:
        if self.identity is None or not self.matched:
            return None
        # The file must be exactly as it was before the check began, and still without a WAL.
        if os.path.lexists(_wal(self.db_path)) or FileIdentity.of(self.db_path) != self.identity:
            return None
        digests = sorted(set(parsed))
        return {
            "format": _FORMAT,
            "version": VERSION,
            "file": self.identity.to_dict(),
            "checked_at_ns": self.checked_at_ns,
            "engine": self.engine,
            "year_column": self.year_column,
            "year": self.year,
            "matches": [{"snapshot_id": s, "manifest": d} for s, d in dict.fromkeys(self.matched)],
            "parsed": digests if len(digests) <= MAX_PARSED else [],
            "objects": {k: v.to_dict() for k, v in sorted(self.objects.items())},
        }

    def finish(self, *, parsed: Iterable[str] = ()) -> None:
        """Publish the record, when the check found a match and the file did not change.
        ``parsed``: digests of the texts DuckDB's parser accepted in this process."""
        record = self._record(parsed)
        if record is None:
            return
        temp = _temp(self.db_path)
        try:
            temp.write_text(json.dumps(record, sort_keys=True))
            os.replace(temp, cache_path(self.db_path))
        except OSError as exc:  # a cache: failing to write it changes nothing
            log.debug("%s: stat cache not written: %s", cache_path(self.db_path), exc)
            with contextlib.suppress(OSError):
                temp.unlink()


def _temp(db_path: Path) -> Path:
    return db_path.with_name(f".{db_path.name}.navsnap-stat-{os.getpid()}.tmp")


def begin(db_path: Path, *, engine: str, year_column: str) -> Recorder:
    """A :class:`Recorder` for a check of ``db_path`` about to begin: the file's identity and
    the filesystem's clock now, read from a file created (and removed) beside the database.
    When that cannot be created (a read-only directory) nothing will be recorded."""
    identity = None if os.path.lexists(_wal(db_path)) else FileIdentity.of(db_path)
    checked_at = 0
    if identity is not None:
        probe = _temp(db_path)
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                checked_at = os.fstat(fd).st_mtime_ns
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError:
            identity = None
    return Recorder(db_path, engine, year_column, identity, checked_at)
