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
- on a local store, each object whose xxh3-128 the check verified, named by its key, hash and
  size together, with its file's identity.

(``parsed``, digests of manifest texts a parser accepted, is written empty and ignored when
read: the record is not authenticated, so it must never switch off the manifest checks.)

:func:`load` returns the record only when every one of these still holds: the file's
identity is the same, there is no ``.wal``, no navsnap writer holds the database lock and no
process holds a POSIX write lock on it (DuckDB's, while open read-write), the engine is the
same, ``checked_at_ns`` is not in the future, and the file is not *racily clean*: its mtime
and ctime are at least :data:`RACY_NS` older than ``checked_at_ns``. A write after the check
began changes the ctime (the kernel sets it, no user can), unless it landed in the same
timestamp tick as the recorded one; the margin rules that case out. An object is trusted
under the same rules. The file is untrusted input: anything that does not parse exactly as
written means "no record", so the caller scans as before. It is a cache: it is never needed,
and deleting it is always safe. The record is read only as a regular file (never through a
symlink, never blocking); the probe and temporary files are created exclusively
(``mkstemp``).

A writer that has just made the file equal to a snapshot (a run, a restore)
leaves a *settled* record instead (:func:`record_written`): its clock is read once the
filesystem's clock has passed the file's last change, so it is trusted without the margin,
and the first ``status`` after a run does not scan.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from navsnap.fsutil import read_regular

if TYPE_CHECKING:
    from navsnap.manifest import Manifest, ObjectRef

__all__ = [
    "RACY_NS",
    "SUFFIX",
    "Cached",
    "FileIdentity",
    "Recorder",
    "begin",
    "cache_path",
    "engine_key",
    "load",
    "manifest_digest",
    "object_key",
    "record_written",
]

log = logging.getLogger(__name__)

#: The sidecar's name: ``<database file name>`` + this.
SUFFIX = ".navsnap.stat"
#: The record's format version; another version is not read (the caller scans).
VERSION = 1
#: A file changed less than this before its check began is racily clean: never trusted. It
#: covers coarse timestamps (2 s on FAT, a few ms on ext4's coarse clock).
RACY_NS = 3_000_000_000
#: A record whose clock is later than this machine's by more than this is not trusted (a
#: forged record, or a clock in the future, would switch the racy-clean rule off).
CLOCK_SKEW_NS = 2_000_000_000
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
#: Present (true) in a record a writer made for the file it had just written
#: (:func:`settle`); absent from a record a check made.
_SETTLED = "settled"
#: How long :func:`settle` waits for the filesystem's clock to pass the file's last change.
SETTLE_WAIT_S = 0.1


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

    def still(self, checked: FileIdentity) -> bool:
        """The file ``checked`` was, unwritten since: the same device, inode, size and mtime,
        and a ctime no earlier (a rename into place moves only the ctime on; a write moves
        the mtime too)."""
        same = (self.dev, self.ino, self.size, self.mtime_ns)
        return same == (checked.dev, checked.ino, checked.size, checked.mtime_ns) and (
            self.ctime_ns >= checked.ctime_ns
        )

    def changed_before(self, checked_at_ns: int) -> bool:
        """Last changed at least :data:`RACY_NS` before ``checked_at_ns`` (not racily clean)."""
        return max(self.mtime_ns, self.ctime_ns) < checked_at_ns - RACY_NS


def manifest_digest(manifest: Manifest) -> str:
    """The ``integrity`` hash of a manifest's canonical JSON: what a record matched."""
    return str(manifest.to_dict()["integrity"])


def object_key(obj: ObjectRef) -> str:
    """How a record names a verified object: its key, xxh3-128 and size together (a record
    written before these were recorded names keys alone, which then never match)."""
    return f"{obj.key}\0{obj.xxh3}\0{obj.size}"


@dataclass(frozen=True)
class Cached:
    """A record :func:`load` found valid for the database as it is now."""

    year: int | None
    year_column: str
    matches: frozenset[tuple[str, str]]
    checked_at_ns: int
    #: Object key -> identity when its hash was verified (local stores only).
    objects: Mapping[str, FileIdentity] = field(default_factory=dict, compare=False)
    #: Written by the writer that had just made the file (:func:`settle`), not by a check.
    settled: bool = False

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
    if not isinstance(data, dict) or set(data) - {_SETTLED} != _KEYS:
        raise ValueError("unexpected keys")
    settled = data.get(_SETTLED, False)
    if _SETTLED in data and settled is not True:
        raise ValueError("settled is present and not true")
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
    # ``parsed`` (digests of texts a parser accepted) is read for the shape only: nothing
    # authenticates the record, so it never spares a manifest its SQL checks.
    checked_at = _int(data["checked_at_ns"])
    cached = Cached(year, column, frozenset(pairs), checked_at, known, settled=settled)
    return identity, engine, cached


def _write_locked(db_path: Path, ino: int) -> bool:
    """Another process (plain DuckDB too) may be writing: the kernel lists a POSIX write lock
    on inode ``ino`` (DuckDB holds one while a read-write connection is open). Read from
    ``/proc/locks`` so no descriptor of the database is opened (closing one would drop this
    process's own locks on it); matched on the inode number alone, which can only refuse
    more. Where ``/proc/locks`` cannot be read, True: no record is trusted."""
    try:
        with open("/proc/locks", "rb") as fh:
            text = fh.read()
    except OSError:
        return True
    suffix = b":" + str(ino).encode()
    for line in text.splitlines():
        fields = line.split()
        if b"WRITE" in fields and any(f.endswith(suffix) for f in fields):
            return True
    return False


@functools.cache
def engine_key() -> str:
    """The DuckDB release a record is keyed on: the installed one's version, read from the
    ``Version:`` line of its wheel metadata (``duckdb-<version>.dist-info/METADATA`` beside
    the package the import system finds, as ``importlib.metadata.version`` reads it), so that
    a ``status`` the record answers never imports DuckDB (about 0.2 s). Where no single such
    file is found (DuckDB installed otherwise), ``duckdb.__version__``. Writer and reader both
    call this, so a record written under one install is read as that install's."""
    spec = importlib.util.find_spec("duckdb")
    if spec is not None and spec.origin is not None:
        site = Path(spec.origin).parent.parent
        try:
            infos = [
                n
                for n in os.listdir(site)
                if n.lower().startswith("duckdb-") and n.endswith(".dist-info")
            ]
            if len(infos) == 1:
                with open(site / infos[0] / "METADATA", encoding="utf-8") as f:
                    for line in f:
                        if line.startswith("Version:"):
                            return line.removeprefix("Version:").strip()
                        if not line.strip():
                            break  # the headers end at the first blank line
        except (OSError, UnicodeDecodeError):
            pass
    import duckdb

    return duckdb.__version__


def load(db_path: Path, *, engine: str) -> Cached | None:
    """The record beside ``db_path`` when it may be trusted now, else None (scan instead)."""
    if os.path.lexists(_wal(db_path)) or _writer_active(db_path):
        return None
    raw = read_regular(cache_path(db_path), limit=MAX_BYTES)  # never a symlink, a FIFO
    if raw is None or len(raw) > MAX_BYTES:
        return None
    try:
        identity, rec_engine, cached = _parse(raw)
    except (ValueError, TypeError, KeyError, RecursionError):
        log.debug("%s: not a valid stat cache record; scanning", cache_path(db_path))
        return None
    if rec_engine != engine:
        return None
    if cached.settled:
        # Its writer read the clock after it had passed the file's last change (settle).
        if max(identity.mtime_ns, identity.ctime_ns) >= cached.checked_at_ns:
            return None
    elif not identity.changed_before(cached.checked_at_ns):
        return None  # racily clean
    if cached.checked_at_ns > time.time_ns() + CLOCK_SKEW_NS:
        return None  # checked in the future: forged, or a clock gone wrong
    if FileIdentity.of(db_path) != identity:
        return None
    if _write_locked(db_path, identity.ino):
        return None  # open read-write in another process: it may change under us
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
    #: Made by :func:`record_written`: ``checked_at_ns`` is past the file's last change.
    settled: bool = False

    def matched_snapshot(self, manifest: Manifest) -> None:
        """The full check found the database equal to ``manifest``."""
        if len(self.matched) < MAX_MATCHES:
            self.matched.append((manifest.snapshot_id, manifest_digest(manifest)))

    def verified_objects(self, identities: Mapping[str, FileIdentity]) -> None:
        """These objects' hashes were verified while their files had these identities."""
        if len(self.objects) + len(identities) <= MAX_OBJECTS:
            self.objects.update(identities)

    def _record(self) -> dict[str, Any] | None:
        if self.identity is None or not self.matched:
            return None
        # The file must be exactly as it was before the check began, and still without a WAL.
        if os.path.lexists(_wal(self.db_path)) or FileIdentity.of(self.db_path) != self.identity:
            return None
        record: dict[str, Any] = {_SETTLED: True} if self.settled else {}
        return record | {
            "format": _FORMAT,
            "version": VERSION,
            "file": self.identity.to_dict(),
            "checked_at_ns": self.checked_at_ns,
            "engine": self.engine,
            "year_column": self.year_column,
            "year": self.year,
            "matches": [{"snapshot_id": s, "manifest": d} for s, d in dict.fromkeys(self.matched)],
            "parsed": [],  # kept for older readers; never trusted (see _parse)
            "objects": {k: v.to_dict() for k, v in sorted(self.objects.items())},
        }

    def finish(self) -> bool:
        """Publish the record, when the check found a match and the file did not change
        (whether it was published)."""
        record = self._record()
        if record is None:
            return False
        temp: str | None = None
        try:
            fd, temp = _mkstemp(self.db_path)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(json.dumps(record, sort_keys=True))
            os.replace(temp, cache_path(self.db_path))
        except OSError as exc:  # a cache: failing to write it changes nothing
            log.debug("%s: stat cache not written: %s", cache_path(self.db_path), exc)
            if temp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            return False
        return True


def _mkstemp(db_path: Path) -> tuple[int, str]:
    """A new file beside the database, created exclusively under an unpredictable name (a
    planted symlink or file is never opened)."""
    return tempfile.mkstemp(
        prefix=f".{db_path.name}.navsnap-stat-", suffix=".tmp", dir=db_path.parent
    )


def _clock(db_path: Path, identity: FileIdentity) -> int | None:
    """The filesystem's clock now: the mtime of a file created (and removed) beside the
    database. None when it cannot be created (a read-only directory) or is on another
    filesystem than the database (a symlinked database elsewhere: not its clock)."""
    try:
        fd, probe = _mkstemp(db_path)
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError:
        return None
    return st.st_mtime_ns if st.st_dev == identity.dev else None


def begin(db_path: Path, *, engine: str, year_column: str) -> Recorder:
    """A :class:`Recorder` for a check of ``db_path`` about to begin: the file's identity and
    the filesystem's clock now (:func:`_clock`). When the clock cannot be read nothing will
    be recorded."""
    identity = None if os.path.lexists(_wal(db_path)) else FileIdentity.of(db_path)
    clock = None if identity is None else _clock(db_path, identity)
    if clock is None:
        return Recorder(db_path, engine, year_column, None, 0)
    return Recorder(db_path, engine, year_column, identity, clock)


def record_written(
    db_path: Path,
    manifest: Manifest,
    *,
    engine: str,
    year_column: str,
    year: Callable[[], int | None],
    checked: FileIdentity | None = None,
) -> bool:
    """Record that ``db_path`` is exactly ``manifest``, for the writer that has just made it
    so (a run's last snapshot, fingerprinted from every row it holds; a restore that checked
    every row it committed, :mod:`navsnap.restore.record`),
    has closed it, and still holds navsnap's database lock. Whether a record was written.

    A check's record is trusted only once the file is :data:`RACY_NS` older than the check,
    so the first ``status`` after a run would scan. The writer knows more: nothing changed
    the file since its own last write. It waits (at most :data:`SETTLE_WAIT_S`) for the
    filesystem's clock to pass the file's last change and records that moment, marked
    ``settled``: any later write leaves a later ctime. Nothing is recorded while the file
    has a WAL or is open for writing in any process (``/proc/locks``), nor when it changed
    meanwhile. ``year`` reads the year the file holds (while the identity is watched).
    ``checked``: the file's identity when the writer's own check of it ended (a restore
    builds and checks a file, then renames it into place); nothing is recorded unless the
    file is still that one (:meth:`FileIdentity.still`).
    """
    if os.path.lexists(_wal(db_path)):
        return False
    identity = FileIdentity.of(db_path)
    if identity is None or _write_locked(db_path, identity.ino):
        return False
    if checked is not None and not identity.still(checked):
        return False
    held = year()
    last = max(identity.mtime_ns, identity.ctime_ns)
    deadline = time.monotonic() + SETTLE_WAIT_S
    clock = _clock(db_path, identity)
    while clock is not None and clock <= last and time.monotonic() < deadline:
        time.sleep(0.001)
        clock = _clock(db_path, identity)
    if clock is None or clock <= last or _write_locked(db_path, identity.ino):
        return False
    rec = Recorder(db_path, engine, year_column, identity, clock, year=held, settled=True)
    rec.matched_snapshot(manifest)
    return rec.finish()
