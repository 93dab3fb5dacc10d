"""The local object cache: objects of a remote store, kept by hash for fast repeated restores.

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

import errno
import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from navsnap.errors import DiskFullError, IntegrityError, StoreError
from navsnap.hashing import hash_file

if TYPE_CHECKING:
    from navsnap.manifest import ObjectRef
    from navsnap.storage import Store

__all__ = [
    "CACHE_ENV",
    "CacheStats",
    "ObjectCache",
    "default_cache_dir",
    "object_hash_from_key",
]

CACHE_ENV = "NAVSNAP_CACHE_DIR"
DEFAULT_WORKERS = 8
_HASH_NAME = re.compile(r"^([0-9a-f]{32})(\.[A-Za-z0-9.]+)?$")

ProgressFn = Callable[[str, int, int], None]


def default_cache_dir() -> Path:
    """``$NAVSNAP_CACHE_DIR``, else ``~/.cache/navsnap/objects``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser().absolute()
    return Path.home() / ".cache" / "navsnap" / "objects"


def object_hash_from_key(key: str) -> str | None:
    """The xxh3-128 in an object key (``objects/ab/<hash>.parquet``), or None."""
    parts = PurePosixPath(key).parts
    if len(parts) < 2 or parts[0] != "objects":
        return None
    m = _HASH_NAME.match(parts[-1])
    return m.group(1) if m else None


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
        digest = object_hash_from_key(key)
        if digest is None:
            raise ValueError(f"{key!r} is not an object key")
        return self.root / digest[:2] / PurePosixPath(key).name

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
        if digest != object_hash_from_key(key):
            path.unlink(missing_ok=True)
            return None
        with self._lock:
            self._checked[path] = stamp
            self._hits += 1
        return path

    # ------------------------------------------------------------------ fetching

    def get(
        self, store: Store, key: str, *, size: int | None = None, snapshot_id: str | None = None
    ) -> Path:
        """The cached file of ``key``, downloaded from ``store`` and verified when needed."""
        found = self.lookup(key, size=size)
        if found is not None:
            return found
        digest = object_hash_from_key(key)
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
                nbytes = store.download(key, tmp)
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
        store: Store,
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
                pool.submit(self.get, store, o.key, size=o.size, snapshot_id=snapshot_id)
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
