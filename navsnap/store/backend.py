"""The backend contract: the few primitives a store needs from a place that holds bytes.

A backend knows keys (``/``-separated paths relative to its root) and bytes, nothing of
manifests, tags or locks; :mod:`navsnap.store.repository` builds those on top, and
:mod:`navsnap.store.layout` names the keys. Two backends ship: :class:`~navsnap.store.local.
LocalBackend` (a directory) and :class:`~navsnap.store.remote.RemoteBackend` (any fsspec
filesystem); :class:`~navsnap.store.cache.CachedBackend` wraps either with a local cache of
objects.

Errors are the builtins, as in fsspec, so callers catch them whatever the backend:

* ``FileNotFoundError``: the key does not exist;
* ``FileExistsError``: a create-only write found the key already there;
* any other ``OSError``: the operation failed. navsnap's own backends raise
  :class:`~navsnap.errors.StoreError` or :class:`~navsnap.errors.DiskFullError` (both
  ``OSError`` subclasses) with a one-line message; the repository translates any other
  ``OSError`` in one place.

Every write is atomic: a reader sees the old state or the whole new bytes, never a part.

To add a backend: subclass :class:`Backend`, implement the abstract methods, declare its
:class:`Capabilities`, and add a ``make_store`` subclass of ``StoreContract`` in
``tests/test_storage.py``: the conformance suite every backend must pass.
"""

from __future__ import annotations

import abc
import contextlib
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

__all__ = ["Backend", "Capabilities", "ObjectInfo"]

_CHUNK = 8 << 20


@dataclass(frozen=True)
class ObjectInfo:
    """One file of a store: its key, size in bytes and modification time (None: unknown)."""

    key: str
    size: int
    mtime: float | None


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do beyond the contract; callers branch on these, never on a URL.

    ``local_paths``: every key is a file on this machine (:meth:`Backend.local_path` works):
    OS file locks, reflinks and DuckDB reading objects in place are possible.
    ``atomic_rename``: a file staged in :meth:`Backend.temp_dir` is published by a rename, and
    crashed writers can leave temporaries behind (:meth:`Backend.clean_temp` removes them).
    ``conditional_create``: a create-only write is an atomic check-and-create, so of two
    writers racing for a key exactly one succeeds (``os.link`` locally, ``If-None-Match: *``
    on S3). Without it, create-only is best effort (check, then write).
    ``parallel_reads``: how many concurrent reads pay off (1 on a local disk, more when each
    read waits on the network).
    """

    local_paths: bool
    atomic_rename: bool
    conditional_create: bool
    parallel_reads: int = 1


class Backend(abc.ABC):
    """Bytes under keys. Subclasses implement the abstract methods; the rest has defaults."""

    #: Where the backend points, for messages: never carries credentials.
    url: str
    capabilities: Capabilities

    # ------------------------------------------------------------------ primitives

    @abc.abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The whole content of ``key``. FileNotFoundError when absent."""

    @abc.abstractmethod
    def write_bytes(self, key: str, data: bytes, *, overwrite: bool, durable: bool = True) -> None:
        """Store ``data`` at ``key`` atomically, creating parent folders as needed.

        With ``overwrite`` false, FileExistsError when ``key`` exists (atomically so when the
        backend declares ``conditional_create``); with it true, an existing key is replaced.
        With ``durable`` false the write is still atomic and visible to every other process,
        but need not survive a crash of the machine (a checkpoint's writer marker, a probe).
        """

    @abc.abstractmethod
    def put_file(
        self, src: Path, key: str, *, overwrite: bool, move: bool, durable: bool = True
    ) -> None:
        """Store the bytes of local file ``src`` at ``key`` atomically, durable on return.

        ``overwrite`` as in :meth:`write_bytes`. With ``move`` the backend may consume ``src``
        (rename it into place); otherwise ``src`` is left as it was. After a failure nothing
        is at ``key`` that was not there before. With ``durable`` false the bytes are durable
        on return but the key's directory entry only after :meth:`sync` of the key, so that
        a batch of files pays for each directory once.
        """

    def sync(self, keys: Iterable[str]) -> None:
        """Make the keys written with ``durable=False`` durable (default: they already are,
        as a PUT to an object store is)."""
        return None

    @abc.abstractmethod
    def download(self, key: str, dest: Path) -> int:
        """Copy ``key`` into local file ``dest`` (created or truncated); the bytes copied.

        FileNotFoundError when ``key`` is absent.
        """

    @abc.abstractmethod
    def open_input(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """A binary stream over the bytes of ``key`` (FileNotFoundError when absent)."""

    @abc.abstractmethod
    def info(self, key: str) -> ObjectInfo:
        """Size and modification time of ``key``. FileNotFoundError when absent."""

    @abc.abstractmethod
    def list_files(self, prefix: str) -> list[ObjectInfo]:
        """Every file below folder ``prefix`` (recursively), sorted by key; [] when none.

        A listing made after a write or delete returns sees it (no listing cache).
        """

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove one file. FileNotFoundError when absent, where the backend can tell
        (object stores cannot); any other failure raises: a failed delete is never silent."""

    @abc.abstractmethod
    def top_level_names(self) -> list[str]:
        """Names directly under the root (files and folders); [] when the root is absent."""

    # ------------------------------------------------------------------ defaults

    def exists(self, key: str) -> bool:
        """Whether ``key`` is a file."""
        try:
            self.info(key)
        except FileNotFoundError:
            return False
        return True

    def hash_object(self, key: str) -> tuple[str, int]:
        """(xxh3-128 hex, size) of ``key``'s bytes, streamed."""
        import xxhash

        h = xxhash.xxh3_128()
        size = 0
        with self.open_input(key) as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size

    def local_path(self, key: str) -> Path:
        """The file of ``key`` on this machine; only with ``capabilities.local_paths``."""
        raise NotImplementedError(f"{type(self).__name__} has no local paths")

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A local file with ``key``'s bytes while the context lasts (a temporary copy here;
        the file itself where keys are local; a cached copy in a caching wrapper)."""
        with tempfile.TemporaryDirectory(prefix="navsnap-get-") as tmp:
            dest = Path(tmp) / PurePosixPath(key).name
            self.download(key, dest)
            yield dest

    def temp_dir(self) -> Path:
        """A fresh local directory for staging files to :meth:`put_file` (the caller removes
        it). Backends with ``atomic_rename`` put it where a rename reaches the key."""
        return Path(tempfile.mkdtemp(prefix="navsnap-stage-"))

    def clean_temp(self, *, older_than: float = 0.0) -> list[str]:
        """Remove temporaries of dead writers older than ``older_than`` seconds; their names."""
        return []

    @abc.abstractmethod
    def full_url(self, key: str) -> str:
        """``key`` as DuckDB or fsspec opens it (an absolute path where keys are local)."""

    def duckdb_filesystem(self) -> Any | None:
        """The fsspec filesystem DuckDB must register to read :meth:`full_url`, or None when
        DuckDB reads it directly."""
        return None
