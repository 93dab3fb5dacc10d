#!/usr/bin/env python3
"""Parquet codecs on the simulation's own rows: what ``[snapshot] compression`` trades.

For each codec (zstd level 1, navsnap's default; snappy, DuckDB's default; lz4; and zstd level
1 with ``PARQUET_VERSION V2``, the delta encodings) the 2029 rows of the year tables are
written with DuckDB ``COPY`` and fsynced (what a snapshot's export does), scanned and hashed
with ``read_parquet`` (what an analyst's query or a fingerprint of the objects does), then
loaded into a new database file with ``CREATE TABLE AS`` from the Parquet, a CHECKPOINT and an
fsync (what a restore's load does). Codecs are interleaved within each repetition; wall and
CPU seconds (the process's, DuckDB's threads included) are medians, and each codec's ratios to
zstd-1 are the medians of the per-repetition ratios. Bytes are the Parquet files' sizes.

Then, why V2 is not navsnap's: a column of INTEGER values spanning more than 2^31 (both ends
of the range), written with V2 by this DuckDB, is read back by pyarrow and, where
``.ci-cache/duckdb-1.0.0`` holds it (``.ci/run`` installs it), by DuckDB 1.0.0; the script
prints what each reads.

Usage: python scripts/bench_codec.py [--employees 100000 | --db sim.duckdb] [--reps 3]
Runtime: ~1 min at 100,000 employees with 3 repetitions; ~10 min at 1,000,000.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

import navsnap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import year_tables  # scripts/ is on the path

CODECS = {
    "zstd-1": "COMPRESSION zstd, COMPRESSION_LEVEL 1",
    "snappy": "COMPRESSION snappy",
    "lz4": "COMPRESSION lz4_raw",
    "zstd-1-v2": "COMPRESSION zstd, COMPRESSION_LEVEL 1, PARQUET_VERSION V2",
}
ROOT = Path(__file__).resolve().parent.parent
YEAR = 2029


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _timed(fn: object) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--employees", type=int, default=100_000)
    ap.add_argument("--db", default="", help="an existing 2025-2029 simulation (else one is built)")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="navsnap-codec-"))
    try:
        db = Path(args.db) if args.db else work / "sim.duckdb"
        if not args.db:
            config = navsnap.load_config(
                overrides={"simulation.employees": args.employees}, search_cwd=False
            )
            navsnap.run(config, db=db, years="2025-2029", snapshots=False)
        con = duckdb.connect(str(db), read_only=True)
        tables = year_tables(con)
        keys = ("write", "write_cpu", "scan", "scan_cpu", "load", "load_cpu", "bytes")
        res: dict[str, dict[str, list[float]]] = {c: {k: [] for k in keys} for c in CODECS}
        for _ in range(args.reps):
            for codec, options in CODECS.items():
                out = work / codec
                out.mkdir()
                files = [out / f"{t}.parquet" for t in tables]

                def write(options: str = options, files: list[Path] = files) -> None:
                    for t, f in zip(tables, files, strict=True):
                        con.execute(
                            f'COPY (SELECT * FROM "{t}" WHERE simulation_year = {YEAR}) '
                            f"TO '{f}' (FORMAT parquet, {options})"
                        )
                    for f in files:
                        _fsync(f)

                def scan(files: list[Path] = files) -> None:
                    reader = duckdb.connect()
                    for f in files:
                        reader.execute(
                            "SELECT count(*), sum(hash(t)::HUGEINT) FROM read_parquet(?) AS t",
                            [str(f)],
                        ).fetchall()
                    reader.close()

                loaded = work / f"{codec}.duckdb"

                def load(files: list[Path] = files, loaded: Path = loaded) -> None:
                    target = duckdb.connect(str(loaded))
                    for t, f in zip(tables, files, strict=True):
                        target.execute(f"CREATE TABLE \"{t}\" AS SELECT * FROM read_parquet('{f}')")
                    target.execute("CHECKPOINT")
                    target.close()
                    _fsync(loaded)

                r = res[codec]
                wall, cpu = _timed(write)
                r["write"].append(wall)
                r["write_cpu"].append(cpu)
                r["bytes"].append(float(sum(f.stat().st_size for f in files)))
                wall, cpu = _timed(scan)
                r["scan"].append(wall)
                r["scan_cpu"].append(cpu)
                wall, cpu = _timed(load)
                r["load"].append(wall)
                r["load_cpu"].append(cpu)
                shutil.rmtree(out)
                loaded.unlink()
        con.close()
        print(f"{db}: the {YEAR} rows of {', '.join(tables)}; {args.reps} repetitions")
        print(f"{'codec':10} " + " ".join(f"{k:>10}" for k in keys) + "   ratios to zstd-1")
        for codec, r in res.items():
            med = {k: statistics.median(v) for k, v in r.items()}
            ratio = {
                k: statistics.median(a / b for a, b in zip(r[k], res["zstd-1"][k], strict=True))
                for k in keys
            }
            print(
                f"{codec:10} "
                + " ".join(
                    f"{med[k] / 1e6:>8.1f}MB" if k == "bytes" else f"{med[k]:>9.3f}s" for k in keys
                )
                + "   "
                + " ".join(f"{k} {ratio[k]:.2f}x" for k in keys)
            )
        v2_readers(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def v2_readers(work: Path) -> None:
    """Print what pyarrow and DuckDB 1.0.0 read of a V2 file whose INTEGER values span the
    whole range, against this DuckDB's reading of it."""
    import subprocess

    path = work / "wide-v2.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT (CASE WHEN r % 2 = 0 THEN -2147483648 + r ELSE 2147483647 - r END)"
        f"::INTEGER AS v FROM range(100000) AS t(r)) TO '{path}' "
        "(FORMAT parquet, PARQUET_VERSION V2)"
    )
    want = con.execute(f"SELECT sum(v), count(*) FROM '{path}'").fetchone()
    assert want is not None
    enc = con.execute(f"SELECT DISTINCT encodings FROM parquet_metadata('{path}')").fetchall()
    con.close()
    print(
        f"V2 file of INTEGER values spanning 2^32 ({enc}): DuckDB {duckdb.__version__} reads "
        f"sum {want[0]}, {want[1]} rows"
    )
    try:
        import pyarrow.parquet as pq

        col = pq.read_table(path)["v"].to_pylist()
        print(f"  pyarrow reads sum {sum(col)}, {len(col)} rows")
    except Exception as exc:
        print(f"  pyarrow: {type(exc).__name__}: {exc}")
    old = ROOT / ".ci-cache" / "duckdb-1.0.0"
    if not (old / "duckdb").is_dir():
        print(f"  DuckDB 1.0.0: not installed in {old}")
        return
    code = (
        "import duckdb, sys; r = duckdb.connect().execute("
        "'SELECT sum(v), count(*) FROM read_parquet(?)', [sys.argv[1]]).fetchone(); "
        "print(f'sum {r[0]}, {r[1]} rows')"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        env={"PYTHONPATH": str(old), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
    )
    print(f"  DuckDB 1.0.0 reads {(res.stdout or res.stderr).strip()}")


if __name__ == "__main__":
    raise SystemExit(main())
