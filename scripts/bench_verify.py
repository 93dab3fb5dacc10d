"""Hashing throughput for verify: xxh3-128 over files in the page cache.

Compares reading into a ``bytearray`` (``readinto``), into a page-aligned buffer (anonymous
mmap), and ``navsnap.hashing.hash_file`` (mmap of the file), against xxh3 over bytes already
in memory. Methods are interleaved and the median of ``--repeat`` passes is reported, with
each method's speed as a ratio to the in-memory baseline measured in the same run (the
development machine is noisy; see BASELINES.md).

    .venv/bin/python scripts/bench_verify.py --size-mb 512 --files 4 --repeat 5
"""

from __future__ import annotations

import argparse
import mmap
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import xxhash

from navsnap.hashing import hash_file

BUF = 8 << 20


def _bytearray(path: Path) -> str:
    h = xxhash.xxh3_128()
    buf = bytearray(BUF)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def _aligned(path: Path) -> str:
    h = xxhash.xxh3_128()
    buf = mmap.mmap(-1, BUF)
    view = memoryview(buf)
    try:
        with path.open("rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                h.update(view[:n])
    finally:
        view.release()
        buf.close()
    return h.hexdigest()


def _mmap(path: Path) -> str:
    return hash_file(path)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=256, help="size of each file")
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temp dir)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="navsnap-bench-") as tmp:
        files = []
        block = os.urandom(1 << 20)
        for i in range(args.files):
            p = Path(tmp) / f"f{i}.bin"
            with p.open("wb") as fh:
                for _ in range(args.size_mb):
                    fh.write(block)
            files.append(p)
        total = args.size_mb * args.files * (1 << 20)
        memory = block * args.size_mb

        def in_memory(_p: Path) -> str:
            return xxhash.xxh3_128_hexdigest(memory)

        methods: dict[str, Callable[[Path], str]] = {
            "in memory (baseline)": in_memory,
            "bytearray readinto": _bytearray,
            "page-aligned buffer": _aligned,
            "mmap (hash_file)": _mmap,
        }
        for p in files:  # warm the page cache and check the methods agree
            digests = {name: fn(p) for name, fn in methods.items() if fn is not in_memory}
            assert len(set(digests.values())) == 1, digests
        times: dict[str, list[float]] = {name: [] for name in methods}
        for _ in range(args.repeat):
            for name, fn in methods.items():
                t0 = time.perf_counter()
                for p in files:
                    fn(p)
                times[name].append(time.perf_counter() - t0)

    base = statistics.median(times["in memory (baseline)"])
    print(f"{args.files} files x {args.size_mb} MiB, median of {args.repeat}, page cache warm")
    print(f"{'method':24} {'GB/s':>7} {'vs memory':>10}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:24} {total / med / 1e9:7.2f} {base / med:9.2f}x")


if __name__ == "__main__":
    main()
