"""xxh3-128 of files and bytes.

Files are hashed through ``mmap``: reading into a plain ``bytearray`` caps xxh3 near 2 GB/s on
the development machine, while mmap reaches the 6-9 GB/s the page cache can feed
(``scripts/bench_verify.py`` measures it). Where a file cannot be mapped (some FUSE and network
mounts), :func:`file_chunks` reads it into one reused buffer instead.
"""

from __future__ import annotations

import io
import mmap
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import xxhash

__all__ = ["file_chunks", "hash_bytes", "hash_file"]

_CHUNK = 64 << 20


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """The xxh3-128 of ``data`` as 32 hex digits."""
    return xxhash.xxh3_128_hexdigest(data)


def hash_file(
    path: str | os.PathLike[str], *, on_bytes: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """The xxh3-128 (hex) and size of a local file (:func:`file_chunks`)."""
    h = xxhash.xxh3_128()
    size = 0
    with Path(path).open("rb") as fh:
        for chunk in file_chunks(fh, _CHUNK):
            h.update(chunk)
            size += len(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return h.hexdigest(), size


def file_chunks(fh: io.BufferedReader, chunk: int) -> Iterator[memoryview]:
    """The bytes of the open file ``fh``, in order, as views of at most ``chunk`` bytes: of
    an mmap of it, or where it cannot be mapped, of one buffer ``read()`` into again for each
    view. A view is valid only until the next is asked for (it is released then)."""
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        return
    try:
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError:
        yield from _read_chunks(fh, chunk)
        return
    with mm, memoryview(mm) as view:
        for start in range(0, size, chunk):
            with view[start : start + chunk] as part:
                yield part


def _read_chunks(fh: io.BufferedReader, chunk: int) -> Iterator[memoryview]:
    with memoryview(bytearray(chunk)) as buf:
        while n := fh.readinto(buf):
            with buf[:n] as part:
                yield part
