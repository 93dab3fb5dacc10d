"""The repository: a navsnap store on top of a backend.

:class:`Store` is what the rest of navsnap holds. It owns the store marker and its format
version, manifests, tags, verification state, and the one answer to "which objects are
referenced, and which unreferenced ones may be deleted" (:func:`referenced_objects`,
:meth:`Store.unreferenced_objects`) used by snapshot cleanup, ``prune`` and ``verify``. It
also passes the backend's primitives through (``read_bytes``, ``publish_file`` ...) with the
one translation of a backend's bare ``OSError`` into :class:`~navsnap.errors.StoreError`.

Keys come from :mod:`navsnap.store.layout`; bytes go through a
:class:`~navsnap.store.backend.Backend`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from navsnap.errors import (
    DiskFullError,
    FormatVersionError,
    IntegrityError,
    NavsnapError,
    SnapshotNotFound,
    StoreError,
    UsageError,
)
from navsnap.store import layout
from navsnap.store.backend import Backend, Capabilities, ObjectInfo
from navsnap.store.local import LocalBackend
from navsnap.store.trust import Signer, key_from_env, missing_key_hint

if TYPE_CHECKING:
    from navsnap.manifest import Manifest
    from navsnap.store.cache import ObjectCache

__all__ = [
    "STORE_FORMAT_VERSION",
    "BrokenManifest",
    "BrokenTag",
    "Store",
    "Unreferenced",
    "open_store",
    "referenced_objects",
]

#: The newest store format this navsnap reads: 1, or 2 for a signed store (its marker says
#: ``"signed": true``; a navsnap that cannot check signatures refuses it as too new).
STORE_FORMAT_VERSION = 2
_UNSIGNED_VERSION = 1
_SIGNED_VERSION = 2
_MARKER_FORMAT = "navsnap-store"


@dataclass(frozen=True)
class BrokenManifest:
    """A manifest that exists but cannot be read (damaged, or of a newer format)."""

    snapshot_id: str
    error: str


@dataclass(frozen=True)
class BrokenTag:
    """A tag file that exists but cannot be used (damaged, or not signed as its store)."""

    name: str
    key: str
    error: str


@dataclass(frozen=True)
class Unreferenced:
    """Objects no manifest references, split by the grace period.

    ``collectable`` are older than the grace period: under the prune lock and with no
    checkpoint writing, they may be deleted. ``young`` are within it (or of unknown age): a
    checkpoint in progress may be about to publish the manifest that references them.
    """

    collectable: tuple[ObjectInfo, ...]
    young: tuple[ObjectInfo, ...]


def referenced_objects(manifests: Iterable[Manifest]) -> frozenset[str]:
    """The keys of every object the given manifests reference: their Parquet (or file)
    objects, and the hot-tier copies still live (:mod:`navsnap.hotwindow`)."""
    from navsnap.hotwindow import live_hot_keys

    ms = list(manifests)
    return frozenset(o.key for m in ms for o in m.objects()) | live_hot_keys(ms)


def _check_object_keys(manifest: Manifest, source: str) -> None:
    """Every object key of ``manifest`` is ``objects/<h[:2]>/<h>.<ext>`` with ``h`` its
    recorded xxh3-128, before anything opens it: IntegrityError naming the field otherwise
    (a key with ``..``, an absolute path or another folder would read outside ``objects/``)."""
    refs = [("file.object.key", manifest.file.object)] if manifest.file is not None else []
    if manifest.hot is not None:
        refs.append(("hot.object.key", manifest.hot.object))
    for ti, table in enumerate(manifest.tables):
        for pi, part in enumerate(table.partitions):
            refs.append((f"tables[{ti}].partitions[{pi}].object.key", part.object))
    for field_name, ref in refs:
        try:
            parsed = layout.parse_object_key(ref.key)
        except (ValueError, TypeError, AttributeError):
            parsed = None
        if parsed is None or parsed.digest != ref.xxh3:
            shown = repr(ref.key)[:80]
            raise IntegrityError(
                f"{source}: field {field_name} ({shown}) is not the object key of its "
                "recorded hash",
                path=source,
                hint="object keys must be objects/<h[:2]>/<h>.<ext>; the manifest was altered",
            )


def _check_own_name(manifest: Manifest, snapshot_id: str) -> None:
    """The manifest stored as ``manifests/<snapshot_id>.json`` says it is that snapshot:
    its ``snapshot_id`` equals the name and is ``<run_id>-<year>`` (``docs/format.md``).
    IntegrityError naming both otherwise: a manifest copied over another's file (2028's
    content under 2029's name) would restore the wrong year with exit 0."""
    key = layout.manifest_key(snapshot_id)
    own = f"{manifest.run_id}-{manifest.year}"
    if manifest.snapshot_id == snapshot_id and own == snapshot_id:
        return
    if manifest.snapshot_id != snapshot_id:
        claim = f"snapshot_id {manifest.snapshot_id!r}"
    else:
        claim = f"run_id {manifest.run_id!r} and year {manifest.year} ({own!r})"
    raise IntegrityError(
        f"manifest {key} holds {claim}, not {snapshot_id!r}: it was copied or renamed",
        path=key,
        snapshot_id=snapshot_id,
        hint="put the right manifest back from a backup, or delete the file; "
        "'navsnap verify' lists every such manifest",
    )


def _translate_os_error(exc: OSError, what: str) -> OSError:
    if isinstance(exc, NavsnapError):
        return exc
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"no space left while {what}", hint="free disk space and run the command again"
        )
    if isinstance(exc, PermissionError):
        return StoreError(f"permission denied while {what}", hint="check the store's permissions")
    return StoreError(
        f"I/O error while {what}: {exc.strerror or exc}",
        hint="use a writable --store, or remount it read-write"
        if exc.errno == errno.EROFS
        else "check the store's filesystem and run the command again",
    )


class Store:
    """One snapshot store. Use :func:`open_store` to create it from a URL, path or backend."""

    def __init__(
        self,
        location: str | os.PathLike[str] | Backend,
        *,
        storage_options: dict[str, Any] | None = None,
        cache: ObjectCache | None = None,
        timeout: float | None = None,
        key: bytes | None = None,
    ) -> None:
        if key is not None and not isinstance(key, bytes | bytearray):
            raise UsageError(
                f"a store key must be bytes, not {type(key).__name__}",
                hint="pass key=b'...' (or set NAVSNAP_STORE_KEY)",
            )
        if isinstance(location, Backend):
            self.backend = location
        elif isinstance(location, str | os.PathLike) and not isinstance(location, bytes):
            self.backend = _backend_for(os.fspath(location), storage_options, cache, timeout)
        else:
            raise UsageError(
                f"a store must be a path or URL, not {type(location).__name__}",
                hint="pass store='snapshots' (a folder) or an fsspec URL such as "
                "'s3://bucket/prefix'",
            )
        self.url = self.backend.url
        self._key = key if key is not None else key_from_env()
        self._trust: tuple[Signer | None] | None = None  # (signer,) once the marker was read

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def capabilities(self) -> Capabilities:
        return self.backend.capabilities

    @property
    def local_root(self) -> Path | None:
        """The store's folder when it is one on this machine (None: object storage)."""
        from navsnap.store.local import LocalBackend

        return self.backend.root if isinstance(self.backend, LocalBackend) else None

    @property
    def cache(self) -> ObjectCache | None:
        """The local object cache restores read through (None: objects are read in place)."""
        from navsnap.store.cache import CachedBackend

        return self.backend.cache if isinstance(self.backend, CachedBackend) else None

    @contextlib.contextmanager
    def _io(self, what: str) -> Iterator[None]:
        """Translate a backend's bare OSError; FileNotFoundError/FileExistsError pass."""
        try:
            yield
        except (FileNotFoundError, FileExistsError):
            raise
        except OSError as exc:
            err = _translate_os_error(exc, f"{what} in {self.url!r}")
            if err is exc:
                raise
            raise err from exc

    # ------------------------------------------------------------------ primitives

    def full_url(self, key: str) -> str:
        """``key`` as a URL DuckDB or fsspec can open (an absolute path on a local store)."""
        return self.backend.full_url(key)

    def duckdb_filesystem(self) -> Any | None:
        """The fsspec filesystem DuckDB must register to read :meth:`full_url`, or None."""
        return self.backend.duckdb_filesystem()

    def local_path(self, key: str) -> Path:
        """The file of ``key`` (only when ``capabilities.local_paths``)."""
        return self.backend.local_path(key)

    def exists(self, key: str) -> bool:
        with self._io(f"checking {key}"):
            return self.backend.exists(key)

    def info(self, key: str) -> ObjectInfo:
        with self._io(f"reading {key}"):
            return self.backend.info(key)

    def read_bytes(self, key: str) -> bytes:
        """The bytes of ``key``; FileNotFoundError when it does not exist."""
        with self._io(f"reading {key}"):
            return self.backend.read_bytes(key)

    def list_files(self, prefix: str) -> list[ObjectInfo]:
        """Every file below ``prefix`` (a folder key), sorted by key."""
        with self._io(f"listing {prefix}"):
            return self.backend.list_files(prefix)

    def hash_object(self, key: str) -> tuple[str, int]:
        """(xxh3-128, size) of an object, streamed."""
        with self._io(f"reading {key}"):
            return self.backend.hash_object(key)

    def download(self, key: str, dest: Path) -> int:
        """Copy ``key`` into the local file ``dest``; the bytes copied. FileNotFoundError
        when ``key`` does not exist."""
        with self._io(f"downloading {key}"):
            return self.backend.download(key, dest)

    def local_copy(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A local file with the object's bytes: the object itself on a local store, the
        verified cached copy of an object of a cached remote store, else a temporary copy."""
        return self.backend.local_copy(key)

    def temp_dir(self) -> Path:
        """A fresh local directory for staging files; on a store with ``atomic_rename`` it is
        inside the store, so publishing is a rename."""
        with self._io("creating a staging directory"):
            return self.backend.temp_dir()

    def clean_temp(self, *, older_than: float = 0.0) -> list[str]:
        """Remove leftover temporary files of crashed writers; their names."""
        with self._io("removing temporary files"):
            return self.backend.clean_temp(older_than=older_than)

    def publish_file(self, src: Path, key: str, *, move: bool = True, durable: bool = True) -> bool:
        """Put local file ``src`` at ``key`` atomically; False when ``key`` already exists.

        An existing object of another size is damaged (its name is the hash of ``src``'s
        bytes): it is replaced, which repairs it for every snapshot that references it.
        ``src`` is removed afterwards when ``move`` is true. With ``durable`` false the key
        is durable only after :meth:`sync` (see :meth:`Backend.put_file`).
        """
        size = src.stat().st_size
        with self._io(f"writing {key}"):
            try:
                existing: int | None = self.backend.info(key).size
            except FileNotFoundError:
                existing = None
            if existing == size:
                created = False
            else:
                try:
                    self.backend.put_file(
                        src, key, overwrite=existing is not None, move=move, durable=durable
                    )
                    created = True
                except FileExistsError:
                    created = False  # another writer published the same bytes meanwhile
        if move:
            src.unlink(missing_ok=True)
        return created

    def write_bytes_atomic(
        self, key: str, data: bytes, *, overwrite: bool = False, durable: bool = True
    ) -> None:
        """Write small ``data`` at ``key`` atomically. Unless ``overwrite``, FileExistsError
        when ``key`` exists (a conditional create where the backend has one). ``durable``
        false: visible to every process, but need not survive a crash of the machine."""
        with self._io(f"writing {key}"):
            self.backend.write_bytes(key, data, overwrite=overwrite, durable=durable)

    def sync(self, keys: Iterable[str]) -> None:
        """Make keys published with ``durable=False`` durable (each folder fsynced once)."""
        with self._io("syncing written files"):
            self.backend.sync(keys)

    def delete(self, key: str) -> None:
        """Delete one file; errors propagate (a failed delete must fail loudly).

        FileNotFoundError when the backend can tell the file is missing; any other failure,
        including a refused delete, is a :class:`StoreError`.
        """
        try:
            self.backend.delete(key)
        except (FileNotFoundError, NavsnapError):
            raise
        except OSError as exc:
            raise StoreError(
                f"could not delete {key} from {self.url!r}: {exc.strerror or exc}",
                hint="check the store's permissions",
            ) from exc

    # ------------------------------------------------------------------ marker

    def has_marker(self) -> bool:
        """Whether the store marker exists (the store was created)."""
        return self.exists(layout.MARKER)

    def _marker(self) -> dict[str, Any] | None:
        try:
            raw = self.read_bytes(layout.MARKER)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            raise StoreError(
                f"store marker {layout.MARKER} in {self.url!r} is not valid JSON",
                hint="the store is damaged; restore the marker from a backup",
            ) from None
        if not isinstance(data, dict) or data.get("format") != _MARKER_FORMAT:
            raise StoreError(
                f"{self.url!r} is not a navsnap store (bad {layout.MARKER})",
                hint="check --store: a navsnap store's folder, or an empty or new one",
            )
        return data

    def _signer(self) -> Signer | None:
        """The signer of a signed store (its marker's MAC checked), None for an unsigned one.

        IntegrityError (exit 8) when the store is signed and no key is set, when the marker's
        MAC is wrong, or when a key is set for an unsigned store (it could be a signed
        store whose marker was replaced by someone without the key).
        """
        if self._trust is not None:
            return self._trust[0]
        marker = self._marker()
        if marker is None:
            return Signer(self._key) if self._key is not None else None
        signer: Signer | None = None
        if marker.get("signed") is True:
            if self._key is None:
                raise IntegrityError(
                    f"store {self.url!r} is signed: reading or writing it needs its key",
                    path=layout.MARKER,
                    hint=missing_key_hint(),
                )
            signer = Signer(self._key)
            signer.open(layout.MARKER, marker, what="store marker")
        elif self._key is not None:
            raise IntegrityError(
                f"store {self.url!r} is not signed, but a store key is set",
                path=layout.MARKER,
                hint="its marker may have been replaced by someone without the key; unset "
                "NAVSNAP_STORE_KEY and NAVSNAP_STORE_KEY_FILE to read an unsigned store",
            )
        self._trust = (signer,)
        return signer

    @property
    def signed(self) -> bool:
        """Whether manifests and tags of this store carry a checked MAC."""
        return self._signer() is not None

    def _check_version(self, marker: dict[str, Any]) -> None:
        version = marker.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            # Not a version any navsnap writes ("1", 1e999, true): a damaged marker, not a
            # newer format that an upgrade would read.
            raise StoreError(
                f"store marker {layout.MARKER} in {self.url!r} has no valid format version "
                f"({version!r})",
                hint="the store is damaged; restore the marker from a backup",
            )
        if version > STORE_FORMAT_VERSION:
            raise FormatVersionError(
                f"store {self.url!r} has format version {version!r}; this navsnap reads "
                f"up to {STORE_FORMAT_VERSION}",
                hint="upgrade navsnap",
            )
        self._signer()

    def _is_empty(self) -> bool:
        """No files but, possibly, the ``tmp/`` of a writer that died while creating the
        store (the marker is written through ``tmp/``, so a kill can leave just that)."""
        with self._io("listing the store"):
            return all(name == layout.TMP for name in self.backend.top_level_names())

    def _marker_or_error(self) -> dict[str, Any] | None:
        marker = self._marker()
        if marker is None and not self._is_empty():
            raise StoreError(
                f"{self.url!r} is not empty and is not a navsnap store (no {layout.MARKER})",
                hint="choose an empty or new directory for --store",
            )
        return marker

    def check_readable(self) -> None:
        """Raise unless this is an existing navsnap store of a known format version."""
        marker = self._marker_or_error()
        if marker is None:
            raise SnapshotNotFound(
                f"no navsnap store at {self.url!r}", hint="check --store, or take a snapshot first"
            )
        self._check_version(marker)

    def ensure_writable(self) -> None:
        """Create the store when new; refuse a foreign directory or a newer format."""
        marker = self._marker_or_error()
        if marker is not None:
            self._check_version(marker)
            return
        doc: dict[str, Any] = {"format": _MARKER_FORMAT, "version": _UNSIGNED_VERSION}
        if self._key is not None:
            doc = Signer(self._key).seal(
                layout.MARKER, {**doc, "version": _SIGNED_VERSION, "signed": True}
            )
        body = json.dumps(doc, sort_keys=True).encode()
        try:
            self.write_bytes_atomic(layout.MARKER, body)
        except FileExistsError:
            # Another writer created the store at the same moment: check what it wrote.
            self.check_readable()
        except NavsnapError:
            raise
        except OSError as exc:  # a path under /proc, a file where a folder must be, ...
            raise StoreError(
                f"store {self.url!r} cannot be created: {exc.strerror or exc}",
                hint="pass --store a folder navsnap can create and write",
            ) from None

    # ------------------------------------------------------------------ manifests

    def manifest_ids(self) -> list[str]:
        """The id of every manifest in the store (readable or not), sorted."""
        ids = (layout.manifest_id(info.key) for info in self.list_files(layout.MANIFESTS))
        return sorted(i for i in ids if i is not None)

    def has_manifest(self, snapshot_id: str) -> bool:
        return self.exists(layout.manifest_key(snapshot_id))

    def load_manifest(self, snapshot_id: str, *, sql: bool = True) -> Manifest:
        """The manifest of ``snapshot_id``; SnapshotNotFound when absent, IntegrityError
        (naming the snapshot) when damaged, FormatVersionError when newer. ``sql`` False
        leaves the parse of its SQL to :meth:`Manifest.sql_checked`."""
        from navsnap.manifest import Manifest

        try:
            raw = self.read_bytes(layout.manifest_key(snapshot_id))
        except FileNotFoundError:
            raise SnapshotNotFound(
                f"no snapshot {snapshot_id!r} in {self.url!r}", hint="see 'navsnap list'"
            ) from None
        try:
            signer = self._signer()
            if signer is not None:
                raw = self._open_signed(signer, layout.manifest_key(snapshot_id), raw, "manifest")
            manifest = Manifest.from_json(raw, source=f"manifest {snapshot_id}", sql=sql)
            _check_own_name(manifest, snapshot_id)
            _check_object_keys(manifest, layout.manifest_key(snapshot_id))
            return manifest
        except IntegrityError as exc:
            exc.snapshot_id = snapshot_id
            raise

    @staticmethod
    def _open_signed(signer: Signer, key: str, raw: bytes, what: str) -> bytes:
        """The document at ``key`` without its MAC, after checking it (IntegrityError)."""
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError(f"{what} {key} is not valid JSON (damaged)", path=key) from None
        if not isinstance(doc, dict):
            raise IntegrityError(f"{what} {key} is not a JSON object (damaged)", path=key)
        return json.dumps(signer.open(key, doc, what=what), ensure_ascii=False).encode()

    def _sealed(self, key: str, body: bytes) -> bytes:
        signer = self._signer()
        if signer is None:
            return body
        doc = signer.seal(key, json.loads(body))
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).encode()

    def read_manifests(self, *, sql: bool = True) -> tuple[list[Manifest], list[BrokenManifest]]:
        """Every manifest, sorted by (created_at, snapshot_id); unreadable ones listed apart
        (``sql`` as for :meth:`load_manifest`)."""
        good: list[Manifest] = []
        bad: list[BrokenManifest] = []
        self._signer()  # a signed store without its key: one error, not one per manifest
        for sid in self.manifest_ids():
            try:
                good.append(self.load_manifest(sid, sql=sql))
            except SnapshotNotFound:
                continue  # deleted since the listing (a concurrent prune)
            except NavsnapError as exc:
                bad.append(BrokenManifest(sid, exc.one_line()))
        good.sort(key=lambda m: (m.created_at, m.snapshot_id))
        return good, bad

    def write_manifest(self, manifest: Manifest) -> None:
        """Publish ``manifest``: the snapshot's commit point. FileExistsError when a
        manifest of that snapshot id exists (never overwritten)."""
        key = layout.manifest_key(manifest.snapshot_id)
        self.write_bytes_atomic(key, self._sealed(key, manifest.to_json()))

    def delete_manifest(self, snapshot_id: str) -> None:
        self.delete(layout.manifest_key(snapshot_id))

    # ------------------------------------------------------------------ tags

    def read_tags(self) -> tuple[dict[str, str], list[BrokenTag]]:
        """Tag name -> snapshot id, and the tag files that cannot be used (damaged, or
        unsigned or wrongly signed in a signed store)."""
        signer = self._signer()
        good: dict[str, str] = {}
        bad: list[BrokenTag] = []
        for info in self.list_files(layout.TAGS):
            name = layout.tag_name(info.key)
            if name is None:
                continue
            try:
                raw = self.read_bytes(info.key)
            except FileNotFoundError:
                continue  # deleted since the listing
            try:
                if signer is not None:
                    raw = self._open_signed(signer, info.key, raw, "tag file")
                data = json.loads(raw)
                sid = data["snapshot_id"]
                if not isinstance(sid, str) or not layout.is_snapshot_id(sid):
                    # a path (../../etc/passwd) is no snapshot id: never a key to read
                    raise TypeError("snapshot_id is not a snapshot id")
                good[name] = sid
            except IntegrityError as exc:
                bad.append(BrokenTag(name, info.key, exc.one_line()))
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                bad.append(
                    BrokenTag(name, info.key, f"tag file {info.key} in {self.url!r} is damaged")
                )
        return good, bad

    def tags(self, *, strict: bool = False) -> dict[str, str]:
        """Tag name -> snapshot id. Unusable tag files are skipped, or with ``strict`` an
        IntegrityError naming the first (prune must not lose a pin because its file is
        damaged)."""
        good, bad = self.read_tags()
        if strict and bad:
            raise IntegrityError(
                bad[0].error,
                path=bad[0].key,
                hint="re-create it with 'navsnap tag' or delete it; nothing was pruned",
            )
        return good

    def write_tag(self, name: str, snapshot_id: str) -> None:
        """Point tag ``name`` at ``snapshot_id`` (ValueError for a name not allowed)."""
        key = layout.tag_key(name)
        body = json.dumps({"snapshot_id": snapshot_id}, sort_keys=True).encode()
        self.write_bytes_atomic(key, self._sealed(key, body), overwrite=True)

    def has_tag_file(self, name: str) -> bool:
        return self.exists(layout.tag_key(name))

    def delete_tag(self, name: str) -> None:
        self.delete(layout.tag_key(name))

    # ------------------------------------------------------------------ state

    def read_state(self, name: str) -> Any:
        """The advisory record ``name`` (JSON), or None when it is absent or unreadable."""
        try:
            return json.loads(self.read_bytes(layout.state_key(name)))
        except (FileNotFoundError, ValueError):
            return None

    def write_state(self, name: str, data: Any) -> None:
        body = json.dumps(data, indent=1, sort_keys=True).encode()
        self.write_bytes_atomic(layout.state_key(name), body, overwrite=True)

    # ------------------------------------------------------------------ garbage

    def unreferenced_objects(
        self, referenced: Collection[str], *, grace: float, now: float | None = None
    ) -> Unreferenced:
        """Objects in the store whose key is not in ``referenced``, split at ``grace``
        seconds of age (see :class:`Unreferenced`). Deleting any is the caller's decision,
        under the rules of ``docs/format.md`` (Deletion)."""
        cutoff = (time.time() if now is None else now) - grace
        collectable: list[ObjectInfo] = []
        young: list[ObjectInfo] = []
        for found in self.list_files(layout.OBJECTS):
            if found.key in referenced:
                continue
            if found.mtime is None or found.mtime > cutoff:
                young.append(found)
            else:
                collectable.append(found)
        return Unreferenced(tuple(collectable), tuple(young))


def _backend_for(
    url: str,
    storage_options: dict[str, Any] | None,
    cache: ObjectCache | None,
    timeout: float | None,
) -> Backend:
    backend: Backend
    if "://" in url and url.split("://", 1)[0].lower() != "file":
        from navsnap.store.remote import RemoteBackend

        remote = RemoteBackend.from_url(url, storage_options=storage_options, timeout=timeout)
        from navsnap.store.cache import CachedBackend

        # memory:// is in this process already: a cache would only copy it.
        return remote if remote.protocol == "memory" else CachedBackend(remote, cache)
    backend = LocalBackend(url.split("://", 1)[1] if "://" in url else url)
    root = Path(backend.url)
    if root.exists() and not root.is_dir():
        raise StoreError(
            f"store path {str(root)!r} is a file, not a directory",
            hint="pass a directory to --store",
        )
    return backend


def open_store(
    location: str | os.PathLike[str] | Backend,
    *,
    storage_options: dict[str, Any] | None = None,
    cache: ObjectCache | None = None,
    timeout: float | None = None,
    key: bytes | None = None,
) -> Store:
    """A :class:`Store` for a local path, an fsspec URL (``memory://NAME``, ``s3://bucket/prefix``)
    or a ready backend (e.g. ``RemoteBackend(fs, "bucket/prefix")`` for an fsspec
    filesystem instance). Remote stores other than ``memory://`` read objects through the
    local object cache (``cache``, else the default one). Every operation on a remote store
    fails after ``timeout`` seconds without progress (default: ``NAVSNAP_STORE_TIMEOUT``,
    else 60; see :mod:`navsnap.store.deadline`). ``key``: the store key of a signed store
    (default: ``NAVSNAP_STORE_KEY`` or ``NAVSNAP_STORE_KEY_FILE``; see
    :mod:`navsnap.store.trust`)."""
    return Store(location, storage_options=storage_options, cache=cache, timeout=timeout, key=key)
