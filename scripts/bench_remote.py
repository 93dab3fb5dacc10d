"""Restore the same snapshot from local disk and from S3 (a local moto server); print a table.

    PYTHONPATH=tests .venv/bin/python scripts/bench_remote.py [--years 2025-2029] [--rows 200000]

Targets: first S3 restore <= 1.5x the local restore; second S3 restore downloads 0 bytes.
The moto server runs in this process on 127.0.0.1, so this measures navsnap's overhead
(requests, parallel download, hashing, cache), not a real network.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from s3server import environ, running  # noqa: E402

from navsnap import api  # noqa: E402
from navsnap.config import load_config  # noqa: E402
from navsnap.index import read_all  # noqa: E402
from navsnap.runner import run  # noqa: E402
from navsnap.store import ObjectCache, Store, clear_filesystem_cache, open_store  # noqa: E402


def build(db: Path, store: Store, years: str, rows: int) -> str:
    """A database with one wide-ish year-partitioned table, snapshotted every year."""

    def step(con: duckdb.DuckDBPyConnection, year: int, config: object) -> None:
        con.execute(
            "CREATE TABLE IF NOT EXISTS facts (simulation_year INTEGER, id BIGINT, "
            "a DOUBLE, b VARCHAR, c DECIMAL(12, 2))"
        )
        con.execute(
            "INSERT INTO facts SELECT ?, i, random(), md5(i::VARCHAR || ?), (i % 1000) / 7 "
            "FROM range(?) t(i)",
            [year, year, rows],
        )

    sys.modules["bench_remote_step"] = type(sys)("bench_remote_step")
    sys.modules["bench_remote_step"].step = step  # type: ignore[attr-defined]
    config = load_config(overrides={"run.step": "bench_remote_step:step"}, search_cwd=False)
    first, last = (int(y) for y in years.split("-"))
    run(config, db=db, years=(first, last), store=store)
    return read_all(store)[0][-1].snapshot_id


def timed_restore(store: Store, sid: str, out: Path) -> float:
    t0 = time.perf_counter()
    api.restore(store=store, snapshot=sid, to=out, db=out)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--years", default="2025-2029")
    ap.add_argument("--rows", type=int, default=200_000, help="rows per year")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir, running() as s3:
        tmp = Path(tmpdir)
        env = {**s3.env, "NAVSNAP_CACHE_DIR": str(tmp / "cache")}
        with environ(env):
            bucket = s3.new_bucket("bench")
            local = open_store(tmp / "local-store")
            sid = build(tmp / "sim.duckdb", local, args.years, args.rows)
            remote_url = f"s3://{bucket}/snaps"
            remote = open_store(remote_url)
            remote.ensure_writable()
            # Same manifest and objects in both stores.
            for info in local.list_files("objects") + local.list_files("manifests"):
                with local.local_copy(info.key) as path:
                    remote.publish_file(path, info.key, move=False)
            manifest = read_all(local)[0][-1]
            local_s = min(timed_restore(local, sid, tmp / f"l{i}.duckdb") for i in range(2))
            cache = ObjectCache(tmp / "cache")
            first_s = timed_restore(Store(remote_url, cache=cache), sid, tmp / "r1.duckdb")
            first_bytes = cache.stats.downloaded_bytes
            second_s = timed_restore(Store(remote_url, cache=cache), sid, tmp / "r2.duckdb")
            second_bytes = cache.stats.downloaded_bytes - first_bytes
            # As a fresh `navsnap restore` process: new S3 client, empty cache.
            clear_filesystem_cache()
            fresh = ObjectCache(tmp / "cache2")
            fresh_s = timed_restore(Store(remote_url, cache=fresh), sid, tmp / "r3.duckdb")
    mb = manifest.total_bytes / 1e6
    rows = [
        ("local disk", f"{local_s:.2f}", "1.00", "-"),
        ("S3, cold cache", f"{first_s:.2f}", f"{first_s / local_s:.2f}", f"{first_bytes:,}"),
        ("S3, warm cache", f"{second_s:.2f}", f"{second_s / local_s:.2f}", f"{second_bytes:,}"),
        (
            "S3, cold cache + new client",
            f"{fresh_s:.2f}",
            f"{fresh_s / local_s:.2f}",
            f"{fresh.stats.downloaded_bytes:,}",
        ),
    ]
    print(f"snapshot {sid}: {len(manifest.objects())} objects, {mb:.1f} MB, "
          f"{manifest.total_rows:,} rows; cpus {os.cpu_count()}")  # fmt: skip
    head = ("restore from", "seconds", "x local", "bytes downloaded")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    ok = first_s / local_s <= 1.5 and second_bytes == 0
    print(f"target (cold <= 1.5x local, warm downloads 0 bytes): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
