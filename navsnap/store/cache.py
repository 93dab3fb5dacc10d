"""The local object cache, and :class:`CachedBackend`: a backend wrapped with that cache.

Objects of a remote store are kept on local disk by hash for fast repeated restores.

Objects are immutable and named by the xxh3-128 of their bytes, so a local copy keyed by that
hash never goes stale. A restore from a remote store downloads the objects it needs in
parallel into this cache, verifying each one as it arrives; a second restore of the same
snapshot downloads nothing.

* **Location**: ``$NAVSNAP_CACHE_DIR``, else ``~/.cache/navsnap/objects``. Layout
  ``<root>/<h[:2]>/<h>.<ext>``, the same file names as in the store.
* **Writes are atomic**: each download goes to ``<root>/tmp/<pid>-<random>``, is hashed, and
  only a file whose size and xxh3-128 match is renamed into place. A failed or corrupt
  download leaves nothing under its final name.
* **Trust rule**: a cached file is re-hashed the first time a process uses it (reading a
  local file costs far less than downloading it); a file that does not match is deleted and
  downloaded again. Within one process a file already checked is trusted while its size and
  modification time are unchanged.
* **Not protected against**: someone rewriting a cached file with the same size within the
  same second, in the middle of a restore. xxhash detects corruption, not tampering.
* The cache is never pruned by navsnap; deleting the directory at any time is safe.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from navsnap.errors import DiskFullError, IntegrityError, StoreError
from navsnap.hashing import hash_file
from navsnap.store import layout
from navsnap.store.backend import Backend, ObjectInfo

if TYPE_CHECKING:
    from navsnap.manifest import ObjectRef

__all__ = [
    "CACHE_ENV",
    "CacheStats",
    "CachedBackend",
    "ObjectCache",
    "ObjectSource",
    "default_cache_dir",
]

CACHE_ENV = "NAVSNAP_CACHE_DIR"
DEFAULT_WORKERS = 8

ProgressFn = Callable[[str, int, int], None]


class ObjectSource(Protocol):
    """Where the cache downloads from: a :class:`Backend`, or a store that has ``download``."""

    def download(self, key: str, dest: Path) -> int: ...


def default_cache_dir() -> Path:
    """``$NAVSNAP_CACHE_DIR``, else ``~/.cache/navsnap/objects``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().absolute()
    return Path.home() / ".cache" / "navsnap" / "objects"


@dataclass(frozen=True)
class CacheStats:
    """What the cache did since it was created."""

    downloaded: int
    downloaded_bytes: int
    hits: int


class ObjectCache:
    """Objects of remote stores on local disk, by hash. Safe to share between threads."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser().absolute() if root is not None else default_cache_dir()
        self._lock = threading.Lock()
        self._checked: dict[Path, tuple[int, int]] = {}
        self._downloaded = 0
        self._downloaded_bytes = 0
        self._hits = 0

    def __repr__(self) -> str:
        return f"ObjectCache({str(self.root)!r})"

    @property
    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._downloaded, self._downloaded_bytes, self._hits)

    def path_for(self, key: str) -> Path:
        """Where the object ``key`` lives in the cache."""
        parsed = layout.parse_object_key(key)  # ValueError for anything else
        return self.root / parsed.digest[:2] / parsed.filename

    # ------------------------------------------------------------------ lookup

    def lookup(self, key: str, *, size: int | None = None) -> Path | None:
        """The cached file of ``key`` when present and intact, else None (a bad one is deleted)."""
        path = self.path_for(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if size is not None and st.st_size != size:
            path.unlink(missing_ok=True)
            return None
        stamp = (st.st_size, st.st_mtime_ns)
        with self._lock:
            if self._checked.get(path) == stamp:
                self._hits += 1
                return path
        digest, _ = hash_file(path)
        if digest != layout.object_digest(key):
            path.unlink(missing_ok=True)
            return None
        with self._lock:
            self._checked[path] = stamp
            self._hits += 1
        return path

    # ------------------------------------------------------------------ fetching

    def get(
        self,
        source: ObjectSource,
        key: str,
        *,
        size: int | None = None,
        snapshot_id: str | None = None,
    ) -> Path:
        """The cached file of ``key``, downloaded from ``source`` and verified when needed."""
        found = self.lookup(key, size=size)
        if found is not None:
            return found
        digest = layout.object_digest(key)
        dest = self.path_for(key)
        tmpdir = self.root / "tmp"
        try:
            tmpdir.mkdir(parents=True, exist_ok=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cache_error(exc, self.root) from exc
        tmp = tmpdir / f"{os.getpid()}-{uuid.uuid4().hex}"
        whose = f" of snapshot {snapshot_id}" if snapshot_id else ""
        try:
            try:
                nbytes = source.download(key, tmp)
            except FileNotFoundError:
                raise IntegrityError(
                    f"object {key}{whose} is missing from the store",
                    path=key,
                    snapshot_id=snapshot_id,
                    hint="restore another snapshot; 'navsnap verify --all' lists the intact ones",
                ) from None
            except (StoreError, DiskFullError):
                raise
            except OSError as exc:
                raise _cache_error(exc, self.root) from exc
            with self._lock:
                self._downloaded += 1
                self._downloaded_bytes += nbytes
            got, got_size = hash_file(tmp)
            if got != digest or (size is not None and got_size != size):
                raise IntegrityError(
                    f"object {key}{whose} is corrupt in the store (xxh3 {got}, expected {digest})",
                    path=key,
                    snapshot_id=snapshot_id,
                    hint="restore another snapshot; 'navsnap verify --all' lists the intact ones",
                )
            try:
                os.replace(tmp, dest)
                st = dest.stat()
            except OSError as exc:
                raise _cache_error(exc, self.root) from exc
            with self._lock:
                self._checked[dest] = (st.st_size, st.st_mtime_ns)
            return dest
        finally:
            tmp.unlink(missing_ok=True)

    def fetch(
        self,
        source: ObjectSource,
        objects: Iterable[ObjectRef],
        *,
        snapshot_id: str | None = None,
        workers: int = DEFAULT_WORKERS,
        progress: ProgressFn | None = None,
    ) -> dict[str, Path]:
        """Every object in the cache, downloading the missing ones in parallel; key -> path.

        Each download is verified (size and xxh3-128) before it is kept; the first missing or
        corrupt object raises :class:`IntegrityError` after the other downloads stop.
        """
        objs = list({o.key: o for o in objects}.values())
        out: dict[str, Path] = {}
        if progress is not None:
            progress("download", 0, len(objs))
        if not objs:
            return out
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(objs)))) as pool:
            futures = [
                pool.submit(self.get, source, o.key, size=o.size, snapshot_id=snapshot_id)
                for o in objs
            ]
            try:
                for i, (obj, fut) in enumerate(zip(objs, futures, strict=True)):
                    out[obj.key] = fut.result()
                    if progress is not None:
                        progress("download", i + 1, len(objs))
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        return out


def _cache_error(exc: OSError, root: Path) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(
            f"no space left in the object cache {str(root)!r}",
            hint=f"free disk space or point {CACHE_ENV} elsewhere",
        )
    return StoreError(
        f"cannot write the object cache {str(root)!r}: {exc.strerror or type(exc).__name__}",
        hint=f"set {CACHE_ENV} to a writable directory",
    )


class CachedBackend(Backend):
    """``inner`` with its objects read through an :class:`ObjectCache`.

    Everything is ``inner``'s except :meth:`local_copy` of an object key, which returns the
    verified cached file (downloading it first when needed). Objects are immutable and named
    by their hash, so a cached copy never goes stale. Other keys (manifests, tags) are
    mutable and always read from ``inner``.
    """

    def __init__(self, inner: Backend, cache: ObjectCache | None = None) -> None:
        self.inner = inner
        self.cache = cache if cache is not None else ObjectCache()
        self.url = inner.url
        self.capabilities = inner.capabilities

    def __repr__(self) -> str:
        return f"CachedBackend({self.inner!r}, {self.cache!r})"

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        if layout.object_digest(key) is None:
            with self.inner.local_copy(key) as path:
                yield path
            return
        yield self.cache.get(self.inner, key)

    def fetch(
        self,
        objects: Iterable[ObjectRef],
        *,
        snapshot_id: str | None = None,
        progress: ProgressFn | None = None,
    ) -> dict[str, Path]:
        """Every object in the cache, verified (see :meth:`ObjectCache.fetch`); key -> path."""
        return self.cache.fetch(
            self.inner,
            objects,
            snapshot_id=snapshot_id,
            workers=self.capabilities.parallel_reads,
            progress=progress,
        )

    # Everything else is the inner backend's.

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(key)

    def write_bytes(self, key: str, data: bytes, *, overwrite: bool, durable: bool = True) -> None:
        self.inner.write_bytes(key, data, overwrite=overwrite, durable=durable)

    def put_file(
        self, src: Path, key: str, *, overwrite: bool, move: bool, durable: bool = True
    ) -> None:
        self.inner.put_file(src, key, overwrite=overwrite, move=move, durable=durable)

    def sync(self, keys: Iterable[str]) -> None:
        self.inner.sync(keys)

    def download(self, key: str, dest: Path) -> int:
        return self.inner.download(key, dest)

    def open_input(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.inner.open_input(key)

    def info(self, key: str) -> ObjectInfo:
        return self.inner.info(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def hash_object(self, key: str) -> tuple[str, int]:
        return self.inner.hash_object(key)

    def list_files(self, prefix: str) -> list[ObjectInfo]:
        return self.inner.list_files(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def top_level_names(self) -> list[str]:
        return self.inner.top_level_names()

    def local_path(self, key: str) -> Path:
        return self.inner.local_path(key)

    def temp_dir(self) -> Path:
        return self.inner.temp_dir()

    def clean_temp(self, *, older_than: float = 0.0) -> list[str]:
        return self.inner.clean_temp(older_than=older_than)

    def full_url(self, key: str) -> str:
        return self.inner.full_url(key)

    def duckdb_filesystem(self) -> Any | None:
        return self.inner.duckdb_filesystem()
