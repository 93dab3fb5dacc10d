"""Wall-clock deadlines around remote store operations: a store that stops answering fails
the command instead of hanging it.

The layer below has its own timeouts (botocore's connect and read timeouts, its retries, and
s3fs's retries on top), but they multiply: with a server that accepts connections and never
answers, one read could wait ``retries x attempts x read_timeout``. So every operation of a
:class:`~navsnap.store.remote.RemoteBackend` also runs under a deadline measured here:

* an operation that has made no progress for ``timeout`` seconds fails with a one-line
  :class:`~navsnap.errors.StoreError` (exit code 6). Metadata operations (info, listing,
  small reads and writes) have ``timeout`` seconds in all; transfers (upload, download,
  streamed reads) report progress per chunk, and each chunk restarts the clock;
* after one operation timed out, the backend fails further operations at once for the next
  ``timeout`` seconds, so a command's cleanup (releasing its writer marker, ...) does not wait
  again: a command whose store stops answering ends within about one ``timeout``.

``timeout`` is ``NAVSNAP_STORE_TIMEOUT`` (seconds) when set, else :data:`DEFAULT_TIMEOUT`
(60 s); a store opened from Python can be given ``timeout=`` directly. The operation itself
runs in a daemon thread that is abandoned on timeout: its request dies with the process.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO, TypeVar

from navsnap.errors import StoreError

__all__ = ["DEFAULT_TIMEOUT", "TIMEOUT_ENV", "Deadline", "Progress", "timeout_from_env"]

T = TypeVar("T")

TIMEOUT_ENV = "NAVSNAP_STORE_TIMEOUT"
#: Seconds without progress before a remote operation fails.
DEFAULT_TIMEOUT = 60.0


def timeout_from_env() -> float:
    """``NAVSNAP_STORE_TIMEOUT`` as seconds (> 0), else :data:`DEFAULT_TIMEOUT`."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise StoreError(
            f"{TIMEOUT_ENV}={raw!r} is not a number of seconds",
            hint=f"set {TIMEOUT_ENV} to a positive number, e.g. 60",
        )
    return value


class Progress:
    """Passed to a transfer: each call (or ``relative_update``, the fsspec callback method)
    says that bytes moved, which restarts the deadline's clock."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def touch(self) -> None:
        self.last = time.monotonic()

    # fsspec Callback protocol (the parts s3fs and fsspec call).
    def relative_update(self, inc: int = 1) -> None:
        self.touch()

    def absolute_update(self, value: int) -> None:
        self.touch()

    def set_size(self, size: int) -> None:
        self.touch()

    def call(self, *args: Any, **kwargs: Any) -> None:
        self.touch()

    def branched(self, path_1: str, path_2: str, **kwargs: Any) -> Progress:
        return self

    def branch_coro(self, fn: Any) -> Any:
        return fn

    def close(self) -> None:
        return None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class Deadline:
    """Runs operations with a deadline; one instance per backend (thread-safe)."""

    def __init__(self, timeout: float, url: str) -> None:
        self.timeout = timeout
        self.url = url
        self._lock = threading.Lock()
        self._dead_until = 0.0
        self._dead_what = ""

    def _timed_out(self, what: str) -> StoreError:
        return StoreError(
            f"the object store of {self.url!r} did not answer within {self.timeout:g} s "
            f"while {what}",
            hint=f"check the endpoint and the network; {TIMEOUT_ENV} sets the seconds to wait",
        )

    def run(self, what: str, fn: Callable[..., T], *args: Any, progress: Progress | None = None,
            **kwargs: Any) -> T:  # fmt: skip
        """``fn(*args, **kwargs)``, or StoreError when it takes longer than the timeout
        (counted from the last ``progress`` update, when one is given)."""
        with self._lock:
            if time.monotonic() < self._dead_until:
                raise StoreError(
                    f"the object store of {self.url!r} is not answering (it timed out while "
                    f"{self._dead_what}); gave up {what}",
                    hint=f"check the endpoint and the network; {TIMEOUT_ENV} sets the seconds "
                    "to wait",
                )
        clock = progress if progress is not None else Progress()
        clock.touch()
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller's thread below
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="navsnap-store-op", daemon=True).start()
        while not done.wait(max(0.0, clock.last + self.timeout - time.monotonic())):
            if time.monotonic() >= clock.last + self.timeout:
                with self._lock:
                    self._dead_until = time.monotonic() + self.timeout
                    self._dead_what = what
                raise self._timed_out(what)
        if "error" in box:
            exc = box.pop("error")
            raise exc
        return box["value"]  # type: ignore[no-any-return]


class DeadlineReader:
    """A binary stream whose every call runs under a :class:`Deadline`."""

    def __init__(self, fh: BinaryIO, deadline: Deadline, what: str) -> None:
        self._fh = fh
        self._deadline = deadline
        self._what = what

    def read(self, size: int = -1) -> bytes:
        return self._deadline.run(self._what, self._fh.read, size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._fh.close()
