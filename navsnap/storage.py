"""The snapshot store: the only module that reads or writes it.

A store is a directory (local path) or a prefix on any fsspec filesystem (``memory://``,
``s3://bucket/prefix``). Layout (see ``docs/format.md``)::

    <store>/
      navsnap-store.json          store marker: {"format": "navsnap-store", "version": 1}
      objects/<h[:2]>/<h>.<ext>   immutable objects named by the xxh3-128 of their bytes
      manifests/<snapshot>.json   one manifest per snapshot: the only commit point
      tags/<name>.json            tags pinning snapshots
      state/                      verification records (advisory)
      tmp/                        temporary files of writers in progress (local stores only)

Local writes go to ``tmp/``, are fsynced and renamed into place, then the directory is
fsynced. On object stores one PUT is atomic by itself. Writers never overwrite an object
(its name is its hash) nor a manifest (publishing an existing snapshot id is an error; on
object stores the manifest PUT is conditional, ``If-None-Match: *``).

Remote stores (``s3://``) take their endpoint and credentials from the usual AWS environment
(``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID`` ...) through botocore; they are
never written to a manifest, a log or an error message. Listings are never cached (a fresh
filesystem instance per :class:`Store`, ``use_listings_cache=False``), so a listing after a
write sees it. Transient errors (throttling, 5xx, dropped connections) are retried by botocore
with exponential backoff ("standard" retry mode); every other failure of the layer below is
translated, in :func:`_translate_remote`, into a one-line :class:`StoreError`.
Objects read for a restore from a remote store go through the local object cache
(:mod:`navsnap.cache`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec

from navsnap.cache import ObjectCache, object_hash_from_key
from navsnap.errors import (
    DiskFullError,
    FormatVersionError,
    NavsnapError,
    SnapshotNotFound,
    StoreError,
)
from navsnap.fsutil import fsync_dir, fsync_file, pid_alive
from navsnap.hashing import hash_file

__all__ = ["STORE_FORMAT_VERSION", "ObjectInfo", "Store", "fsync_dir", "open_store"]

STORE_FORMAT_VERSION = 1
MARKER = "navsnap-store.json"
_KNOWN_REMOTE = ("memory", "s3", "s3a", "gcs", "gs", "az", "abfs", "file")
#: Options given to s3fs unless the caller's ``storage_options`` say otherwise.
_S3_DEFAULTS: dict[str, Any] = {
    "skip_instance_cache": True,  # navsnap keeps its own, keyed on the AWS environment too
    "use_listings_cache": False,
    "config_kwargs": {
        "connect_timeout": 5,
        "read_timeout": 60,
        "retries": {"max_attempts": 4, "mode": "standard"},
    },
}


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    mtime: float | None


def _is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _translate_os_error(exc: OSError, what: str) -> Exception:
    if _is_disk_full(exc):
        return DiskFullError(
            f"no space left while {what}", hint="free disk space and run the command again"
        )
    if isinstance(exc, PermissionError):
        return StoreError(f"permission denied while {what}", hint="check the store's permissions")
    return StoreError(f"I/O error while {what}: {exc.strerror or exc}")


class Store:
    """One snapshot store. Use :func:`open_store` to create it from a URL or path."""

    def __init__(
        self,
        url: str,
        *,
        storage_options: dict[str, Any] | None = None,
        cache: ObjectCache | None = None,
    ) -> None:
        self.url = _redact(url)
        self._cache = cache
        self.protocol = "file"
        if "://" in url:
            protocol = url.split("://", 1)[0].lower()
            if protocol not in _KNOWN_REMOTE:
                raise StoreError(
                    f"unknown store scheme '{protocol}://' in {self.url!r}",
                    hint="use a local path, memory://, or s3://bucket/prefix",
                )
            self.protocol = protocol
            options = dict(storage_options or {})
            if protocol in ("s3", "s3a"):
                options = {**_S3_DEFAULTS, **options}
            try:
                fs, root = _url_to_fs(url, options)
            except ImportError as exc:
                raise StoreError(
                    f"store scheme '{protocol}://' needs an extra package ({exc.name})",
                    hint="install navsnap[s3] for s3://",
                ) from None
            except (ValueError, TypeError) as exc:
                raise StoreError(
                    f"store URL {self.url!r} cannot be used: {type(exc).__name__}",
                    hint="use s3://bucket/prefix",
                ) from None
            self.fs = fs
            self.local_root: Path | None = Path(root) if protocol == "file" else None
            self.root = root.rstrip("/")
            if self.local_root is None and not self.root.strip("/"):
                raise StoreError(
                    f"store URL {self.url!r} names no bucket or folder",
                    hint="use s3://bucket/prefix",
                )
        else:
            self.fs = fsspec.filesystem("file")
            self.local_root = Path(url).expanduser().absolute()
            self.root = str(self.local_root)
        if (
            self.local_root is not None
            and self.local_root.exists()
            and not self.local_root.is_dir()
        ):
            raise StoreError(
                f"store path {str(self.local_root)!r} is a file, not a directory",
                hint="pass a directory to --store",
            )

    # ------------------------------------------------------------------ basics

    @property
    def is_local(self) -> bool:
        return self.local_root is not None

    @property
    def cache(self) -> ObjectCache | None:
        """The local object cache used for restores (remote stores other than memory://)."""
        if self.local_root is not None or self.protocol == "memory":
            return None
        if self._cache is None:
            self._cache = ObjectCache()
        return self._cache

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    def _full(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def full_url(self, key: str) -> str:
        """``key`` as a URL DuckDB or fsspec can open (an absolute path on a local store)."""
        if self.local_root is not None:
            return str(self.local_path(key))
        return f"{self.protocol}://{self._full(key).lstrip('/')}"

    def local_path(self, key: str) -> Path:
        """The filesystem path of ``key`` (local stores only)."""
        assert self.local_root is not None
        return self.local_root / PurePosixPath(key)

    def exists(self, key: str) -> bool:
        if self.local_root is not None:
            return self.local_path(key).exists()
        with self._remote(f"checking {key}"):
            return bool(self.fs.exists(self._full(key)))

    def info(self, key: str) -> ObjectInfo:
        if self.local_root is not None:
            st = self.local_path(key).stat()
            return ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime)
        with self._remote(f"reading {key}"):
            inf = self.fs.info(self._full(key))
        return ObjectInfo(key=key, size=int(inf.get("size") or 0), mtime=_mtime(inf))

    @contextlib.contextmanager
    def _remote(self, what: str) -> Iterator[None]:
        """Translate errors of the remote filesystem; FileNotFoundError/FileExistsError pass."""
        try:
            yield
        except NavsnapError:
            raise
        except Exception as exc:
            err = _translate_remote(exc, what, self.url)
            if err is exc:
                raise
            raise err from exc

    # ------------------------------------------------------------------ marker

    def _marker(self) -> dict[str, Any] | None:
        try:
            raw = self.read_bytes(MARKER)
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            raise StoreError(
                f"store marker {MARKER} in {self.url!r} is not valid JSON",
                hint="the store is damaged; restore the marker from a backup",
            ) from None
        if not isinstance(data, dict) or data.get("format") != "navsnap-store":
            raise StoreError(f"{self.url!r} is not a navsnap store (bad {MARKER})")
        return data

    def _check_version(self, marker: dict[str, Any]) -> None:
        version = marker.get("version")
        if not isinstance(version, int) or version > STORE_FORMAT_VERSION:
            raise FormatVersionError(
                f"store {self.url!r} has format version {version!r}; this navsnap reads "
                f"up to {STORE_FORMAT_VERSION}",
                hint="upgrade navsnap",
            )

    def _is_empty(self) -> bool:
        """No files but, possibly, the ``tmp/`` of a writer that died while creating the
        store (the marker is written through ``tmp/``, so a kill can leave just that)."""
        if self.local_root is not None:
            if not self.local_root.exists():
                return True
            return all(
                entry.name == "tmp" and entry.is_dir() for entry in self.local_root.iterdir()
            )
        with self._remote("listing the store"):
            try:
                return not self.fs.ls(self.root, detail=False)
            except FileNotFoundError:
                return True

    def check_readable(self) -> None:
        """Raise unless this is an existing navsnap store of a known format version."""
        marker = self._marker_or_error()
        if marker is None:
            raise SnapshotNotFound(
                f"no navsnap store at {self.url!r}", hint="check --store, or take a snapshot first"
            )
        self._check_version(marker)

    def _marker_or_error(self) -> dict[str, Any] | None:
        try:
            marker = self._marker()
        except NavsnapError:
            raise
        except OSError as exc:
            raise _translate_os_error(exc, f"reading the store {self.url!r}") from exc
        if marker is None and not self._is_empty():
            raise StoreError(
                f"{self.url!r} is not empty and is not a navsnap store (no {MARKER})",
                hint="choose an empty or new directory for --store",
            )
        return marker

    def ensure_writable(self) -> None:
        """Create the store when new; refuse a foreign directory or a newer format."""
        marker = self._marker_or_error()
        if marker is not None:
            self._check_version(marker)
            return
        body = json.dumps({"format": "navsnap-store", "version": STORE_FORMAT_VERSION}).encode()
        try:
            self.write_bytes_atomic(MARKER, body)
        except FileExistsError:
            # Another writer created the store at the same moment: check what it wrote.
            self.check_readable()

    # ------------------------------------------------------------------ reading

    def read_bytes(self, key: str) -> bytes:
        """The bytes of ``key``; FileNotFoundError when it does not exist."""
        if self.local_root is not None:
            return self.local_path(key).read_bytes()
        with self._remote(f"reading {key}"):
            return bytes(self.fs.cat_file(self._full(key)))

    def list_files(self, prefix: str) -> list[ObjectInfo]:
        """Every file below ``prefix`` (a folder key), sorted by key."""
        out: list[ObjectInfo] = []
        if self.local_root is not None:
            base = self.local_path(prefix)
            if not base.exists():
                return []
            for dirpath, _dirs, files in os.walk(base):
                for name in files:
                    p = Path(dirpath) / name
                    try:
                        st = p.stat()
                    except FileNotFoundError:
                        continue
                    key = p.relative_to(self.local_root).as_posix()
                    out.append(ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime))
        else:
            full = self._full(prefix)
            with self._remote(f"listing {prefix}"):
                try:
                    found = self.fs.find(full, detail=True)
                except FileNotFoundError:
                    found = {}
            root = self.root.lstrip("/")
            for path, inf in found.items():
                if inf.get("type") == "directory":
                    continue
                key = path.lstrip("/")[len(root) :].lstrip("/")
                out.append(ObjectInfo(key=key, size=int(inf.get("size") or 0), mtime=_mtime(inf)))
        return sorted(out, key=lambda o: o.key)

    def hash_object(self, key: str) -> tuple[str, int]:
        """(xxh3-128, size) of an object, streamed."""
        if self.local_root is not None:
            return hash_file(self.local_path(key))
        import xxhash

        h = xxhash.xxh3_128()
        size = 0
        with (
            self._remote(f"reading {key}"),
            self.fs.open(self._full(key), "rb", block_size=8 << 20) as fh,
        ):
            while chunk := fh.read(8 << 20):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size

    def download(self, key: str, dest: Path) -> int:
        """Copy ``key`` into the local file ``dest`` (created or truncated); the bytes copied.

        FileNotFoundError when ``key`` does not exist. On a local store this is a file copy.
        """
        if self.local_root is not None:
            shutil.copyfile(self.local_path(key), dest)
        else:
            with self._remote(f"downloading {key}"):
                self.fs.get_file(self._full(key), str(dest))
        return dest.stat().st_size

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A local file with the object's bytes (the object itself on a local store).

        On a remote store an object (``objects/<hash>.<ext>``) comes from the local object
        cache, downloaded and verified first when it is not there yet.
        """
        if self.local_root is not None:
            yield self.local_path(key)
            return
        cache = self.cache
        if cache is not None and object_hash_from_key(key) is not None:
            yield cache.get(self, key)
            return
        with tempfile.TemporaryDirectory(prefix="navsnap-get-") as tmp:
            dest = Path(tmp) / PurePosixPath(key).name
            self.download(key, dest)
            yield dest

    # ------------------------------------------------------------------ writing

    def temp_dir(self) -> Path:
        """A fresh local directory for staging files; on a local store it is inside ``tmp/``
        (same filesystem, so publishing is a rename)."""
        if self.local_root is not None:
            base = self.local_path("tmp")
            base.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=f"stage-{os.getpid()}-", dir=base))
        return Path(tempfile.mkdtemp(prefix="navsnap-stage-"))

    def publish_file(self, src: Path, key: str, *, move: bool = True) -> bool:
        """Put local file ``src`` at ``key`` atomically; False when ``key`` already exists.

        An existing object of another size is damaged (its name is the hash of ``src``'s
        bytes): it is replaced, which repairs it for every snapshot that references it.

        Local: fsync ``src``, rename (or copy, then rename) into place, fsync the directory.
        Remote: one upload (a failed upload leaves no object). ``src`` is removed when
        ``move`` is true.
        """
        size = src.stat().st_size
        if self.local_root is None:
            with self._remote(f"writing {key}"):
                existing = self._remote_size(key)
                if existing == size:
                    created = False
                elif existing is not None:
                    # Same name, other size: the stored copy is damaged. Its name is the
                    # hash of these bytes, so writing them repairs it.
                    self.fs.put_file(str(src), self._full(key))
                    created = True
                else:
                    try:
                        self.fs.put_file(str(src), self._full(key), mode="create")
                        created = True
                    except FileExistsError:
                        created = False
            if move:
                src.unlink(missing_ok=True)
            return created
        try:
            dest = self.local_path(key)
            if dest.exists() and dest.stat().st_size == size:
                if move:
                    src.unlink(missing_ok=True)
                return False
            # Absent, or present with another size (damaged): write the good bytes.
            dest.parent.mkdir(parents=True, exist_ok=True)
            if move and src.parent.resolve().is_relative_to(self.local_root.resolve()):
                fsync_file(src)
                os.replace(src, dest)
            else:
                tmp = self.local_path(f"tmp/part-{os.getpid()}-{uuid.uuid4().hex}")
                tmp.parent.mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copyfile(src, tmp)
                    fsync_file(tmp)
                    os.replace(tmp, dest)
                finally:
                    tmp.unlink(missing_ok=True)
                if move:
                    src.unlink(missing_ok=True)
            fsync_dir(dest.parent)
            return True
        except OSError as exc:
            raise _translate_os_error(exc, f"writing {key} to {self.url!r}") from exc

    def _remote_size(self, key: str) -> int | None:
        try:
            return int(self.fs.info(self._full(key)).get("size") or 0)
        except FileNotFoundError:
            return None

    def write_bytes_atomic(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        """Write small ``data`` at ``key`` atomically (temp, fsync, rename; one PUT remotely).

        Unless ``overwrite``, FileExistsError when ``key`` exists (remotely a conditional PUT,
        so two writers cannot both create it).
        """
        if self.local_root is None:
            with self._remote(f"writing {key}"):
                self.fs.pipe_file(
                    self._full(key), data, mode="overwrite" if overwrite else "create"
                )
            return
        try:
            if not overwrite and self.exists(key):
                raise FileExistsError(errno.EEXIST, "exists", key)
            dest = self.local_path(key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmpdir = self.local_path("tmp")
            tmpdir.mkdir(parents=True, exist_ok=True)
            tmp = tmpdir / f"part-{os.getpid()}-{uuid.uuid4().hex}"
            try:
                with tmp.open("wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                if overwrite:
                    os.replace(tmp, dest)
                else:
                    # link() fails if dest exists: no silent overwrite of a manifest.
                    os.link(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(dest.parent)
        except FileExistsError:
            raise
        except OSError as exc:
            raise _translate_os_error(exc, f"writing {key} to {self.url!r}") from exc

    def delete(self, key: str) -> None:
        """Delete one file; errors propagate (a failed delete must fail loudly).

        FileNotFoundError when a local file is missing (object stores do not say); any
        other failure, including a refused delete, is a :class:`StoreError`.
        """
        if self.local_root is None:
            with self._remote(f"deleting {key}"):
                self.fs.rm_file(self._full(key))
            return
        try:
            self.local_path(key).unlink()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise StoreError(
                f"could not delete {key} from {self.url!r}: {exc.strerror or exc}",
                hint="check the store's permissions",
            ) from exc

    def clean_temp(self, *, older_than: float = 0.0) -> list[str]:
        """Remove leftover temporary files of crashed writers (local stores)."""
        if self.local_root is None:
            return []
        base = self.local_path("tmp")
        if not base.exists():
            return []
        removed: list[str] = []
        cutoff = time.time() - older_than
        for entry in sorted(base.iterdir()):
            try:
                if entry.stat().st_mtime > cutoff:
                    continue
                if _owner_alive(entry.name):
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
                removed.append(entry.name)
            except FileNotFoundError:
                continue
        return removed


_FS_LOCK = threading.Lock()
_FS_INSTANCES: dict[str, tuple[Any, str]] = {}


def _url_to_fs(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    """fsspec's url_to_fs, with one filesystem instance per (URL, options, AWS environment).

    Creating an S3 client costs about 0.3 s, so instances are reused within a process. The
    key includes a digest of the AWS_* environment, so changed credentials or endpoint get
    a new client; listings are never cached (``use_listings_cache=False``), so reuse is safe.
    """
    if not options.get("skip_instance_cache"):
        return fsspec.core.url_to_fs(url, **options)  # type: ignore[no-any-return]
    import hashlib

    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    material = repr((url, sorted(options.items(), key=lambda kv: kv[0]), env)).encode()
    key = hashlib.sha256(material).hexdigest()
    with _FS_LOCK:
        found = _FS_INSTANCES.get(key)
        if found is None:
            found = fsspec.core.url_to_fs(url, **options)
            _FS_INSTANCES[key] = found
        return found


def clear_filesystem_cache() -> None:
    """Forget reused remote filesystem instances (the next Store creates a new client)."""
    with _FS_LOCK:
        _FS_INSTANCES.clear()


def _redact(url: str) -> str:
    """``url`` without any ``user:password@`` part, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, path = rest.partition("/")
    if "@" in netloc:
        netloc = netloc.rsplit("@", 1)[1]
    return f"{scheme}://{netloc}{slash}{path}"


def _error_code(exc: BaseException) -> str:
    """The S3 error code of ``exc`` or of the botocore error it was translated from."""
    for e in (exc, exc.__cause__, exc.__context__):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
    return ""


def _translate_remote(exc: Exception, what: str, url: str) -> Exception:
    """One place where errors of fsspec/s3fs/botocore become navsnap errors.

    FileNotFoundError (of a key) and FileExistsError pass through unchanged, as on local
    disk. Messages never quote the layer below verbatim beyond an error code, so they cannot
    leak an endpoint's credentials.
    """
    code = _error_code(exc)
    name = type(exc).__name__
    if code == "NoSuchBucket" or (
        isinstance(exc, FileNotFoundError) and "bucket does not exist" in str(exc).lower()
    ):
        return StoreError(
            f"the bucket of {url!r} does not exist (while {what})",
            hint="create the bucket first, or fix the bucket name in --store",
        )
    if isinstance(exc, (FileNotFoundError, FileExistsError)):
        return exc
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return StoreError(
            f"the object store rejected the credentials for {url!r} ({code}, while {what})",
            hint="check AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return StoreError(
            f"no credentials found for {url!r} (while {what})",
            hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    if isinstance(exc, PermissionError) or code in ("AccessDenied", "AllAccessDisabled"):
        return StoreError(
            f"access denied to {url!r} while {what}",
            hint="the credentials lack permission for this; check the bucket policy",
        )
    if name in (
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ProxyConnectionError",
        "ClientConnectorError",
        "ServerTimeoutError",
    ) or isinstance(exc, (ConnectionError, TimeoutError)):
        return StoreError(
            f"cannot reach the object store of {url!r} while {what} ({name})",
            hint="check AWS_ENDPOINT_URL and the network",
        )
    if isinstance(exc, OSError) and _is_disk_full(exc):
        return _translate_os_error(exc, what)
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in (
        "botocore",
        "aiobotocore",
        "aiohttp",
        "s3fs",
        "fsspec",
    ):
        detail = f"{name} {code}".strip() if code else name
        return StoreError(
            f"object store error on {url!r} while {what} ({detail})",
            hint="run again; if it persists check the endpoint and the bucket",
        )
    return exc


def _mtime(inf: dict[str, Any]) -> float | None:
    value = inf.get("LastModified") or inf.get("mtime") or inf.get("created")
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


def _owner_alive(name: str) -> bool:
    """Temporary names are ``stage-<pid>-...`` or ``part-<pid>-...``: keep a live writer's."""
    parts = name.split("-")
    if len(parts) < 2 or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    return pid == os.getpid() or pid_alive(pid)


def open_store(url: str | os.PathLike[str], **kwargs: Any) -> Store:
    """A :class:`Store` for a local path or fsspec URL."""
    return Store(os.fspath(url), **kwargs)
