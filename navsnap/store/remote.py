"""A store on any fsspec filesystem: ``memory://``, ``s3://bucket/prefix``, ``gs://`` ...

One PUT is atomic by itself, so writes need no temporary name. A create-only write is a
conditional PUT (``If-None-Match: *`` on S3), so two writers cannot both create a manifest.

S3 endpoints and credentials come from the usual AWS environment (``AWS_ENDPOINT_URL``,
``AWS_PROFILE``, ``AWS_ACCESS_KEY_ID`` ...) through botocore; they are never written to a
manifest, a log or an error message. Listings are never cached (``use_listings_cache=False``),
so a listing after a write sees it. Transient errors (throttling, 5xx, dropped connections)
are retried by botocore with exponential backoff ("standard" retry mode); every other failure
of the layer below is translated, in :func:`translate_remote_error`, into a one-line
:class:`~navsnap.errors.StoreError`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from navsnap.errors import DiskFullError, NavsnapError, StoreError
from navsnap.store.backend import Backend, Capabilities, ObjectInfo

if TYPE_CHECKING:  # imported where used: a status on a local store never loads them
    from navsnap.store.deadline import Progress

__all__ = [
    "KNOWN_SCHEMES",
    "RemoteBackend",
    "clear_filesystem_cache",
    "redact",
    "split_credentials",
    "translate_remote_error",
]

KNOWN_SCHEMES = ("memory", "s3", "s3a", "gcs", "gs", "az", "abfs")
#: Schemes whose create-only write is a real conditional create.
_CONDITIONAL = ("memory", "s3", "s3a")
_PARALLEL_READS = 8
#: Options given to s3fs unless the caller's ``storage_options`` say otherwise.
_S3_DEFAULTS: dict[str, Any] = {
    "skip_instance_cache": True,  # navsnap keeps its own, keyed on the AWS environment too
    "use_listings_cache": False,
    "config_kwargs": {
        "connect_timeout": 5,
        "read_timeout": 20,
        "retries": {"max_attempts": 3, "mode": "standard"},
    },
}
#: s3fs retries some errors (read timeouts among them) on top of botocore's own attempts;
#: its default of 5 multiplied the wait of a server that stopped answering.
_S3FS_RETRIES = 2


#: What a store URL names after its scheme, by scheme, for the hint when it names nothing.
_ROOT_EXAMPLE = {"s3": "bucket/prefix", "s3a": "bucket/prefix", "gs": "bucket/prefix"}


class RemoteBackend(Backend):
    """Keys below ``root`` on fsspec filesystem ``fs``.

    Build it from a URL with :meth:`from_url`, or hand it a ready filesystem instance (its
    own credentials, options, caching): ``RemoteBackend(fs, "bucket/prefix")``.
    """

    def __init__(
        self, fs: Any, root: str, *, url: str | None = None, timeout: float | None = None
    ) -> None:
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        self.fs = fs
        self.protocol = str(protocol)
        self.root = root.rstrip("/")
        if not self.root.strip("/"):
            shown = redact(url) if url else f"{self.protocol}://"
            raise StoreError(
                f"store URL {shown!r} names no bucket or folder",
                hint=f"use {self.protocol}://{_ROOT_EXAMPLE.get(self.protocol, 'NAME')}",
            )
        self.url = redact(url) if url else f"{self.protocol}://{self.root.lstrip('/')}"
        self.capabilities = Capabilities(
            local_paths=False,
            atomic_rename=False,
            conditional_create=self.protocol in _CONDITIONAL,
            parallel_reads=_PARALLEL_READS,
        )
        #: Every operation runs under this deadline (see :mod:`navsnap.store.deadline`).
        from navsnap.store.deadline import Deadline, timeout_from_env

        self.deadline = Deadline(timeout if timeout is not None else timeout_from_env(), self.url)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        storage_options: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> RemoteBackend:
        shown = redact(url)
        protocol = url.split("://", 1)[0].lower()
        if protocol not in KNOWN_SCHEMES:
            raise StoreError(
                f"unknown store scheme '{protocol}://' in {shown!r}",
                hint="use a local path, memory://, or s3://bucket/prefix",
            )
        options = dict(storage_options or {})
        if protocol in ("s3", "s3a"):
            options = {**_S3_DEFAULTS, **options}
        if protocol in ("s3", "s3a"):
            url, credentials = split_credentials(url)
            if credentials is not None:
                options["key"], options["secret"] = credentials
        try:
            fs, root = _url_to_fs(url, options)
        except ImportError as exc:
            raise StoreError(
                f"store scheme '{protocol}://' needs an extra package ({exc.name})",
                hint="install navsnap[s3] for s3://",
            ) from None
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"store URL {shown!r} cannot be used: {type(exc).__name__}",
                hint="use s3://bucket/prefix",
            ) from None
        if protocol in ("s3", "s3a") and "retries" not in options:
            fs.retries = _S3FS_RETRIES
        return cls(fs, root, url=url, timeout=timeout)

    def __repr__(self) -> str:
        return f"RemoteBackend({self.url!r})"

    def _full(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def full_url(self, key: str) -> str:
        return f"{self.protocol}://{self._full(key).lstrip('/')}"

    def duckdb_filesystem(self) -> Any:
        return self.fs

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except NavsnapError:
            raise
        except Exception as exc:
            err = translate_remote_error(exc, what, self.url)
            if err is exc:
                raise
            raise err from exc

    def _call(
        self, what: str, fn: Any, *args: Any, progress: Progress | None = None, **kwargs: Any
    ) -> Any:
        """``fn(*args, **kwargs)`` under the deadline, its errors translated."""
        with self._errors(what):
            return self.deadline.run(what, fn, *args, progress=progress, **kwargs)

    # ------------------------------------------------------------------ reading

    def read_bytes(self, key: str) -> bytes:
        return bytes(self._call(f"reading {key}", self.fs.cat_file, self._full(key)))

    def download(self, key: str, dest: Path) -> int:
        from navsnap.store.deadline import Progress

        progress = Progress()
        self._call(f"downloading {key}", self.fs.get_file, self._full(key), str(dest),
                   callback=progress, progress=progress)  # fmt: skip
        return dest.stat().st_size

    @contextlib.contextmanager
    def open_input(self, key: str) -> Iterator[BinaryIO]:
        from navsnap.store.deadline import DeadlineReader

        what = f"reading {key}"
        fh = self._call(what, self.fs.open, self._full(key), "rb", block_size=8 << 20)
        try:
            with self._errors(what):
                yield DeadlineReader(fh, self.deadline, what)  # type: ignore[misc]
        finally:
            fh.close()

    def info(self, key: str) -> ObjectInfo:
        inf = self._call(f"reading {key}", self.fs.info, self._full(key))
        if inf.get("type") == "directory":
            raise FileNotFoundError(errno.ENOENT, "not a file", key)
        return ObjectInfo(key=key, size=int(inf.get("size") or 0), mtime=_mtime(inf))

    def list_files(self, prefix: str) -> list[ObjectInfo]:
        try:
            found = self._call(f"listing {prefix}", self.fs.find, self._full(prefix), detail=True)
        except FileNotFoundError:
            found = {}
        root = self.root.lstrip("/")
        out: list[ObjectInfo] = []
        for path, inf in found.items():
            if inf.get("type") == "directory":
                continue
            key = path.lstrip("/")[len(root) :].lstrip("/")
            out.append(ObjectInfo(key=key, size=int(inf.get("size") or 0), mtime=_mtime(inf)))
        return sorted(out, key=lambda o: o.key)

    def top_level_names(self) -> list[str]:
        try:
            found = self._call("listing the store", self.fs.ls, self.root, detail=False)
        except FileNotFoundError:
            return []
        return sorted(str(p).rstrip("/").rsplit("/", 1)[-1] for p in found)

    # ------------------------------------------------------------------ writing

    def write_bytes(self, key: str, data: bytes, *, overwrite: bool, durable: bool = True) -> None:
        mode = "overwrite" if overwrite else "create"
        self._call(f"writing {key}", self.fs.pipe_file, self._full(key), data, mode=mode)

    def put_file(
        self, src: Path, key: str, *, overwrite: bool, move: bool, durable: bool = True
    ) -> None:
        from navsnap.store.deadline import Progress

        progress = Progress()
        extra: dict[str, Any] = {} if overwrite else {"mode": "create"}
        self._call(f"writing {key}", self.fs.put_file, str(src), self._full(key),
                   callback=progress, progress=progress, **extra)  # fmt: skip

    def delete(self, key: str) -> None:
        self._call(f"deleting {key}", self.fs.rm_file, self._full(key))


# --------------------------------------------------------------------------- helpers

_FS_LOCK = threading.Lock()
_FS_INSTANCES: dict[str, tuple[Any, str]] = {}


def _url_to_fs(url: str, options: dict[str, Any]) -> tuple[Any, str]:
    """fsspec's url_to_fs, with one filesystem instance per (URL, options, AWS environment).

    Creating an S3 client costs about 0.3 s, so instances are reused within a process. The
    key includes a digest of the AWS_* environment, so changed credentials or endpoint get
    a new client; listings are never cached (``use_listings_cache=False``), so reuse is safe.
    """
    import hashlib

    import fsspec

    if not options.get("skip_instance_cache"):
        return fsspec.core.url_to_fs(url, **options)  # type: ignore[no-any-return]
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
    """Forget reused remote filesystem instances (the next store creates a new client)."""
    with _FS_LOCK:
        _FS_INSTANCES.clear()


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its ``user:password@`` part, and the (percent-decoded) user and
    password when there was one: they go to the filesystem's options, never into a path, so
    no error message of the layer below can quote them."""
    from urllib.parse import unquote

    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    if not sep or "@" not in netloc:
        return url, None
    userinfo, host = netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    return f"{scheme}://{host}{slash}{path}", (unquote(user), unquote(password))


def redact(url: str) -> str:
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


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def translate_remote_error(exc: Exception, what: str, url: str) -> Exception:
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
    if _is_disk_full(exc):
        return DiskFullError(
            f"no space left while {what}", hint="free disk space and run the command again"
        )
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
