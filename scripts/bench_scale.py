#!/usr/bin/env python3
"""How snapshot time, restore time and store bytes grow with years and with employees.

    python scripts/bench_scale.py --quick     # 10k employees x 3/6 years, 5k/20k x 3 years
    python scripts/bench_scale.py             # 100k x 5/10/20 years, 10k/100k/1M x 5 years
    python scripts/bench_scale.py --write     # also write docs/benchmarks-scale.md and .png
    python scripts/bench_scale.py --employees 10000,100000   # leave the 1M series out

Runtime on the shared 2-core development machine: ``--quick`` about 1-2 minutes; the default
about 10-15 minutes, of which the single 1M series is about half (it runs once: 5 simulated
years, one EXPORT DATABASE, one restore / IMPORT pair).

Each series is one uninterrupted ``navsnap.run`` of the built-in simulation with snapshots (the
real path, whatever a step may let a snapshot trust). The run overlaps a year's snapshot with
the next year's step; here an ``on_event`` callback holds the next year back until the
snapshot has committed, so every snapshot runs alone, and then times DuckDB ``COPY`` of exactly
the rows that snapshot wrote (its new partitions, read from its manifest) to zstd Parquet with
fsync, on a second connection to the same database instance: the two are interleaved year by
year on the same data, the same cache and the same moment of the machine's load. A snapshot's
time runs from the end of the year's step (the run's ``progress`` report) to the write of its
manifest (the manifest file's modification time).

After each run, interleaved ``--reps`` times: a full restore of the last year into a new file
vs ``IMPORT DATABASE`` of an ``EXPORT DATABASE`` of the run's database (CHECKPOINT and fsync
on both sides); ``status`` (the resume check) vs reading every manifest of the store. Bytes:
the whole store directory vs the run's ``.duckdb`` file (after the run, which checkpoints).

The headcount is held constant (``simulation.workforce.growth_rate = 0`` unless
``--growth-rate``), so every year writes about the same rows: a snapshot whose time still grows
with the year number is doing work for the years already stored. The claim checked is "no
operation grows with the number of years already stored beyond reading their manifests": the
snapshot/COPY ratio of the last years of a run should equal that of the first (*growth*).

Results also go to docs/benchmarks-scale.json (with ``--write``): ``--add`` measures only the
series asked for and keeps the others from that file (e.g. ``--series 1000000x5 --add``, to
redo the 1M series alone); ``--redraw`` rewrites the page and chart from it without measuring.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import drop, fsync_tree, import_database, machine, timed  # noqa: E402  (scripts/ is on the path)

import navsnap  # noqa: E402
from navsnap.index import read_all  # noqa: E402
from navsnap.manifest import Manifest, PartitionKind, TableEntry  # noqa: E402
from navsnap.store import open_store  # noqa: E402

FIRST_YEAR = 2025
WAIT_LIMIT_S = 1800.0
Log = Callable[[str], None]


# --------------------------------------------------------------------------- helpers


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def file_bytes(db: Path) -> int:
    wal = db.with_name(db.name + ".wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def median(xs: Iterable[float]) -> float:
    values = list(xs)
    return statistics.median(values) if values else float("nan")


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def size_label(n: int) -> str:
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def partition_select(table: TableEntry, key_kind: PartitionKind, year: str) -> str:
    """The SELECT of one partition's rows, as the snapshot exported them."""
    src = f"{ident(table.schema)}.{ident(table.table)}"
    if key_kind is PartitionKind.GLOBAL or table.year_column is None:
        return f"SELECT * FROM {src}"
    col = ident(table.year_column)
    if key_kind is PartitionKind.NULL_YEAR:
        return f"SELECT * FROM {src} WHERE {col} IS NULL"
    value = year if year.lstrip("-").isdigit() else literal(year)
    return f"SELECT * FROM {src} WHERE {col} = {value}"


def copy_new_rows(con: duckdb.DuckDBPyConnection, manifest: Manifest, out: Path) -> int:
    """DuckDB COPY of the partitions ``manifest`` wrote (not reused) to zstd Parquet, level 1
    (navsnap's default), then fsync: the floor of that snapshot. Returns the rows copied."""
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    for n, table in enumerate(manifest.tables):
        for m, part in enumerate(table.partitions):
            if part.reused:
                continue
            target = out / f"{n}-{m}.parquet"
            con.execute(
                f"COPY ({partition_select(table, part.year.kind, part.year.year)}) TO "
                f"{literal(str(target))} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"
            )
            rows += part.rows
    fsync_tree(out)
    return rows


# --------------------------------------------------------------------------- one series


@dataclass
class YearPoint:
    year: int
    snapshot_s: float
    copy_s: float
    rows: int
    new_bytes: int
    #: The manifest's ``timings.fingerprint_s`` (None when a version no longer records it).
    fingerprint_s: float | None = None
    #: The manifest's ``timings.total_s``: the part of ``snapshot_s`` the job timed itself.
    job_s: float | None = None

    @property
    def ratio(self) -> float:
        return self.snapshot_s / self.copy_s if self.copy_s else float("nan")


@dataclass
class Series:
    employees: int
    years: int
    points: list[YearPoint] = field(default_factory=list)
    run_s: float = 0.0
    restore_s: list[float] = field(default_factory=list)
    import_s: list[float] = field(default_factory=list)
    status_s: list[float] = field(default_factory=list)
    manifests_s: list[float] = field(default_factory=list)
    store_bytes: int = 0
    db_bytes: int = 0

    @property
    def first(self) -> YearPoint:
        return self.points[0]

    @property
    def last(self) -> YearPoint:
        return self.points[-1]

    @property
    def k(self) -> int:
        """How many years at each end the growth figure takes the median of."""
        return max(1, min(len(self.points) // 2, max(2, len(self.points) // 4)))

    @property
    def first_ratio(self) -> float:
        return median(p.ratio for p in self.points[: self.k])

    @property
    def last_ratio(self) -> float:
        return median(p.ratio for p in self.points[-self.k :])

    @property
    def growth(self) -> float:
        """Snapshot/COPY of the last k years over that of the first k (1.0: no growth)."""
        return self.last_ratio / self.first_ratio

    @property
    def restore_ratio(self) -> float:
        return median(self.restore_s) / median(self.import_s)

    @property
    def bytes_ratio(self) -> float:
        return self.store_bytes / self.db_bytes


def total_seconds(manifest: Manifest) -> float | None:
    """The manifest's own ``timings.total_s`` (what the job measured of itself)."""
    secs = manifest.timings.get("total_s")
    return None if secs is None else float(secs)


class AfterEachSnapshot:
    """A run's ``on_event`` and ``progress``: once each year's snapshot has committed, and
    before the next year's step starts, call ``then(manifest, con, seconds)``.

    ``con`` is a second connection to the run's database. Same process, same path, default
    configuration: DuckDB hands back the run's own database instance, so ``con`` sees exactly
    the year-end the snapshot just stored. ``seconds`` is the snapshot's wall time, from the
    end of the year's step (its ``progress`` report) to the modification time of the
    snapshot's manifest: everything the run does for the snapshot, whatever part of it the
    job's own ``timings`` cover.
    """

    def __init__(
        self,
        *,
        db: Path,
        store: Path,
        last: int,
        then: Callable[[Manifest, duckdb.DuckDBPyConnection, float], None],
    ) -> None:
        self.db, self.store, self.last, self.then = db, store, last, then
        self.step_done: dict[int, float] = {}

    def progress(self, phase: str, done: int, total: int) -> None:
        words = phase.split()
        if len(words) == 2 and words[0] == "step" and words[1].isdigit() and done == total:
            self.step_done[int(words[1])] = time.time()

    def __call__(self, event: navsnap.RunEvent) -> None:
        if event.kind == "start" and event.started is not None and event.started > FIRST_YEAR:
            self.fire(event.started - 1)
        elif event.kind == "year" and event.year is not None and event.year.year == self.last:
            self.fire(self.last)

    def committed(self, year: int) -> Path:
        """Wait until the snapshot of ``year`` has committed; its manifest file."""
        deadline = time.monotonic() + WAIT_LIMIT_S
        manifests = self.store / "manifests"
        while True:
            found = sorted(manifests.glob(f"*-{year}.json")) if manifests.is_dir() else []
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise RuntimeError(f"the snapshot of {year} did not commit in {WAIT_LIMIT_S} s")
            time.sleep(0.002)

    def fire(self, year: int) -> None:
        path = self.committed(year)
        manifest = navsnap.show(self.store, path.stem)
        started = self.step_done.get(year)
        if started is not None:
            seconds = path.stat().st_mtime - started
        else:  # the run no longer reports its step's end: the job's own measure
            seconds = total_seconds(manifest) or float("nan")
        con = duckdb.connect(str(self.db))
        try:
            self.then(manifest, con, seconds)
        finally:
            con.close()


class CopyEachYear:
    """After each snapshot: time COPY of the rows it wrote, beside the snapshot's own time."""

    def __init__(self, *, scratch: Path, log: Log) -> None:
        self.scratch, self.log = scratch, log
        self.points: list[YearPoint] = []

    def __call__(self, manifest: Manifest, con: duckdb.DuckDBPyConnection, snap_s: float) -> None:
        year = manifest.year
        out = self.scratch / f"copy-{year}"
        copy_s = timed(lambda: copy_new_rows(con, manifest, out))
        drop(out)
        new = [p for t in manifest.tables for p in t.partitions if not p.reused]
        point = YearPoint(
            year=year,
            snapshot_s=snap_s,
            copy_s=copy_s,
            rows=sum(p.rows for p in new),
            new_bytes=sum(p.object.size for p in new),
            fingerprint_s=manifest.timings.get("fingerprint_s"),
            job_s=total_seconds(manifest),
        )
        self.points.append(point)
        self.log(
            f"   {year}: snapshot {point.snapshot_s:.3f} s (job {point.job_s or 0:.3f} s), "
            f"COPY {copy_s:.3f} s "
            f"({point.ratio:.2f}x), {point.rows:,} rows"
        )


def run_series(n: int, years: int, *, reps: int, growth: float, work: Path, log: Log) -> Series:
    log(f"== {n:,} employees, {years} years")
    work.mkdir(parents=True, exist_ok=True)
    cfg = navsnap.load_config(
        overrides={"simulation.employees": n, "simulation.workforce.growth_rate": growth},
        search_cwd=False,
    )
    db, store = work / "sim.duckdb", work / "store"
    last = FIRST_YEAR + years - 1
    copies = CopyEachYear(scratch=work, log=log)
    hook = AfterEachSnapshot(db=db, store=store, last=last, then=copies)
    s = Series(n, years)
    s.run_s = timed(
        lambda: navsnap.run(
            cfg,
            db=db,
            years=(FIRST_YEAR, last),
            store=str(store),
            snapshots=True,
            on_event=hook,
            progress=hook.progress,
        )
    )
    s.points = sorted(copies.points, key=lambda p: p.year)
    if len(s.points) != years:
        raise RuntimeError(f"measured {len(s.points)} snapshots of {years}")
    s.db_bytes = file_bytes(db)
    s.store_bytes = tree_bytes(store)
    last_id = navsnap.show(store, year=last, db=db).snapshot_id

    export_dir = work / "export"
    con = duckdb.connect(str(db), read_only=True)
    con.execute(f"EXPORT DATABASE {literal(str(export_dir))} (FORMAT parquet, COMPRESSION zstd)")
    con.close()
    for i in range(reps):
        out = work / f"restored{i}.duckdb"
        s.restore_s.append(
            timed(lambda out=out: navsnap.restore(store=store, db=db, snapshot=last_id, to=out))  # type: ignore[misc]
        )
        drop(out)
        imp = work / f"imported{i}.duckdb"
        s.import_s.append(timed(lambda imp=imp: import_database(export_dir, imp)))  # type: ignore[misc]
        drop(imp)
        s.status_s.append(
            timed(lambda: navsnap.status(cfg, db=db, years=(FIRST_YEAR, last), store=store))
        )
        s.manifests_s.append(timed(lambda: read_all(open_store(store))))
    drop(export_dir)
    log(
        f"   restore {median(s.restore_s):.2f} s / IMPORT {median(s.import_s):.2f} s; "
        f"store {s.store_bytes / 1e6:.1f} MB / .duckdb {s.db_bytes / 1e6:.1f} MB; "
        f"snapshot/COPY last {s.k} years / first {s.k}: {s.growth:.2f}x"
    )
    return s


# --------------------------------------------------------------------------- report


def fmt_s(x: float) -> str:
    return f"{x:.2f} s" if x >= 0.1 else f"{x * 1000:.0f} ms"


def fmt_opt(x: float | None) -> str:
    return "n/a" if x is None else fmt_s(x)


def render(series: list[Series], *, meta: dict[str, Any], chart: str | None) -> str:
    growth = meta["growth_rate"]
    headcount = (
        "a constant headcount, so every year writes about the same rows"
        if growth == 0
        else "a headcount that changes every year"
    )
    made = ", then ".join(f"`{c}` on {d}" for c, d in meta["commands"])
    lines = [
        "# Benchmarks: scale",
        "",
        f"Generated by {made}.",
        f"Machine: {meta['machine']}.",
        "",
        "How snapshot time, restore time and store bytes grow with the number of years stored "
        "and with the number of employees, each beside a baseline measured in the same run, "
        "interleaved (method below). Absolute seconds on this shared machine drift by tens of "
        "percent; the ratios are the claim.",
        "",
        "## Snapshots: the first and the last year of each run",
        "",
        "The claim checked: *no operation grows with the number of years already stored beyond "
        "reading their manifests*. With a constant headcount every year writes about the same "
        "rows, so a snapshot should cost the same multiple of COPY of its rows in the last "
        "years of a run as in the first: *growth* near 1.0 holds the claim; a growth that "
        "rises with the years stored refutes it. One year's ratio is one sample on a noisy "
        "machine, so *growth* compares the medians of the first k and the last k years "
        "(k: a quarter of the years, at least 2, at most half). The fingerprint phase (the "
        "manifest's "
        "`timings.fingerprint_s`) is the part that grows when every stored year is "
        "fingerprinted again at every snapshot.",
        "",
        "| employees | years | snapshot, first year | last year | last / first "
        "| fingerprint phase, first year | last year | snapshot / COPY, first k years "
        "| last k years | growth |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in series:
        f, la = s.first, s.last
        lines.append(
            f"| {s.employees:,} | {s.years} | {fmt_s(f.snapshot_s)} | {fmt_s(la.snapshot_s)} | "
            f"{la.snapshot_s / f.snapshot_s:.2f}x | {fmt_opt(f.fingerprint_s)} | "
            f"{fmt_opt(la.fingerprint_s)} | {s.first_ratio:.2f}x | {s.last_ratio:.2f}x | "
            f"**{s.growth:.2f}x** |"
        )
    lines += [
        "",
        "## Restore, resume check and bytes at the end of each run",
        "",
        "Medians of the interleaved pairs (their number in the column *pairs*).",
        "",
        "| employees | years | full restore | IMPORT DATABASE | ratio | resume check (`status`) "
        "| reading every manifest | store | `.duckdb` file | ratio | pairs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in series:
        lines.append(
            f"| {s.employees:,} | {s.years} | {fmt_s(median(s.restore_s))} | "
            f"{fmt_s(median(s.import_s))} | {s.restore_ratio:.2f}x | "
            f"{fmt_s(median(s.status_s))} | {fmt_s(median(s.manifests_s))} | "
            f"{s.store_bytes / 1e6:,.1f} MB | {s.db_bytes / 1e6:,.1f} MB | "
            f"{s.bytes_ratio:.2f}x | {len(s.restore_s)} |"
        )
    longest = max(series, key=lambda s: (s.years, s.employees))
    lines += [
        "",
        f"## Every year of the longest run ({longest.employees:,} employees, "
        f"{longest.years} years)",
        "",
        "| year | snapshot | of which the job's own `total_s` | fingerprint phase "
        "| COPY of the same rows | ratio | rows written | bytes written |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in longest.points:
        lines.append(
            f"| {p.year} | {fmt_s(p.snapshot_s)} | {fmt_opt(p.job_s)} | "
            f"{fmt_opt(p.fingerprint_s)} | {fmt_s(p.copy_s)} | {p.ratio:.2f}x | {p.rows:,} | "
            f"{p.new_bytes / 1e6:,.1f} MB |"
        )
    if chart:
        lines += ["", f"![scale]({chart})", ""]
    lines += [
        "",
        "## Method",
        "",
        "- Each row is one uninterrupted `navsnap.run` of the built-in simulation from 2025 "
        "with snapshots to a local store, `simulation.workforce.growth_rate` = "
        f"{growth} ({headcount}; the other keys are the defaults).",
        "- The run overlaps a year's snapshot with the next year's step. Here its `on_event` "
        "callback holds the next year back until the snapshot has committed, so each snapshot "
        "runs alone. A snapshot's time runs from the end of the year's step (the run's "
        "`progress` report) to the write of its manifest (the file's modification time).",
        "- Then, before the next year starts, DuckDB `COPY` writes exactly the rows that "
        "snapshot wrote (its partitions not reused from earlier snapshots, read from its "
        "manifest; the first year includes the global tables) to zstd Parquet level 1, and "
        "fsyncs them: the floor of that snapshot. It runs on a second connection to the same "
        "database instance, so both read the same year-end with the same cache.",
        "- A navsnap snapshot does more than COPY: fingerprints (to find unchanged partitions), "
        "validation aggregates, xxh3 of every object, fsyncs and an atomic manifest.",
        "- After the run, interleaved: a full restore of the last year into a new file "
        "(`navsnap.restore(..., to=...)`, every check on) vs `IMPORT DATABASE` of an "
        "`EXPORT DATABASE` of the run's database followed by CHECKPOINT and fsync; "
        "`navsnap.status` (what `run --resume` checks) vs reading every manifest of the store.",
        "- Bytes: every file of the store directory vs the run's `.duckdb` file after the run.",
        "- Reproduce: `python scripts/bench_scale.py --write` (about 10-15 minutes; "
        "`--quick` for a 1-2 minute version at smaller sizes).",
        "",
    ]
    return "\n".join(lines)


def draw(series: list[Series], path: Path, *, base_n: int, base_y: int) -> bool:
    """Four panels: per-year snapshot/COPY ratio of every run; time against years stored
    (navsnap solid, baseline dashed); time against employees; bytes."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    (a, b), (c, d) = axes
    for s in series:
        xs = [p.year - FIRST_YEAR + 1 for p in s.points]
        (line,) = a.plot(
            xs,
            [p.ratio for p in s.points],
            marker="o",
            markersize=3,
            label=f"{size_label(s.employees)} x {s.years} y",
        )
        if all(p.fingerprint_s is not None for p in s.points):
            a.plot(
                xs,
                [(p.fingerprint_s or 0.0) / p.copy_s for p in s.points],
                linestyle=":",
                color=line.get_color(),
            )
    a.axhline(1.0, color="black", linestyle="--", linewidth=1)
    a.set_xlabel("year number in the run")
    a.set_ylabel("snapshot / COPY of the same rows")
    a.set_title("Each year's snapshot / COPY (dotted: its fingerprint phase / COPY)")
    a.set_ylim(bottom=0)
    a.xaxis.get_major_locator().set_params(integer=True)
    a.legend(fontsize=7)

    def dimension(
        ax: object, items: list[Series], x: Callable[[Series], float], xlabel: str
    ) -> None:
        xs = [x(s) for s in items]
        snaps = ([s.last.snapshot_s for s in items], [s.last.copy_s for s in items])
        loads = ([median(s.restore_s) for s in items], [median(s.import_s) for s in items])
        pairs = [("last-year snapshot", *snaps, "COPY"), ("full restore", *loads, "IMPORT")]
        for (name, ours, base, bname), colour in zip(
            pairs, ("tab:blue", "tab:orange"), strict=True
        ):
            ax.plot(xs, ours, marker="o", color=colour, label=name)  # type: ignore[attr-defined]
            ax.plot(xs, base, marker="s", color=colour, linestyle="--", label=bname)  # type: ignore[attr-defined]
        ax.set_xlabel(xlabel)  # type: ignore[attr-defined]
        ax.set_ylabel("seconds")  # type: ignore[attr-defined]
        ax.set_yscale("log")  # type: ignore[attr-defined]
        if xs and max(xs) >= 1000:
            ax.set_xscale("log")  # type: ignore[attr-defined]
        ax.set_xticks(xs)  # type: ignore[attr-defined]
        ax.set_xticklabels([size_label(int(v)) if v >= 1000 else str(int(v)) for v in xs])  # type: ignore[attr-defined]
        ax.minorticks_off()  # type: ignore[attr-defined]
        ax.legend(fontsize=7)  # type: ignore[attr-defined]

    by_years = sorted((s for s in series if s.employees == base_n), key=lambda s: s.years)
    by_n = sorted((s for s in series if s.years == base_y), key=lambda s: s.employees)
    if by_years:
        dimension(b, by_years, lambda s: s.years, f"years stored ({size_label(base_n)} employees)")
        b.set_title("Time against years stored (solid navsnap, dashed baseline)")
    if by_n:
        dimension(c, by_n, lambda s: s.employees, f"employees ({base_y} years)")
        c.set_title("Time against employees (solid navsnap, dashed baseline)")
    labels = [f"{size_label(s.employees)} x {s.years} y" for s in series]
    ys = range(len(series))
    d.barh([y - 0.2 for y in ys], [s.store_bytes / 1e6 for s in series], height=0.4,
           label="navsnap store")  # fmt: skip
    d.barh([y + 0.2 for y in ys], [s.db_bytes / 1e6 for s in series], height=0.4,
           label=".duckdb file")  # fmt: skip
    for y, s in zip(ys, series, strict=True):
        d.text(s.store_bytes / 1e6 * 1.05, y - 0.2, f"{s.bytes_ratio:.2f}x", va="center",
               fontsize=7)  # fmt: skip
    d.set_yticks(list(ys))
    d.set_yticklabels(labels, fontsize=8)
    d.invert_yaxis()
    d.set_xscale("log")
    d.set_xlabel("MB (log); label: store / .duckdb")
    d.set_title("Bytes after the run")
    d.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


RESULTS = ROOT / "docs" / "benchmarks-scale.json"


def save(series: list[Series], meta: dict[str, Any]) -> None:
    data = {"meta": meta, "series": [asdict(x) for x in series]}
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")


def load() -> tuple[list[Series], dict[str, Any]]:
    data = json.loads(RESULTS.read_text())
    series = []
    for d in data["series"]:
        points = [YearPoint(**p) for p in d.pop("points")]
        series.append(Series(**d, points=points))
    return series, data["meta"]


def publish(series: list[Series], meta: dict[str, Any], *, write: bool) -> None:
    base_n, base_y = meta["base_employees"], meta["base_years"]
    series.sort(key=lambda s: (s.employees != base_n, s.employees, s.years))
    chart = None
    if write and draw(series, ROOT / "docs" / "benchmarks-scale.png", base_n=base_n,
                      base_y=base_y):  # fmt: skip
        chart = "benchmarks-scale.png"
    text = render(series, meta=meta, chart=chart)
    print(text)
    if write:
        (ROOT / "docs" / "benchmarks-scale.md").write_text(text)
        save(series, meta)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, about 1-2 minutes")
    ap.add_argument("--years", default="", help="years of the runs at --base-employees")
    ap.add_argument("--employees", default="", help="employees of the runs of --base-years")
    ap.add_argument("--base-employees", type=int, default=0, help="employees of the year runs")
    ap.add_argument("--base-years", type=int, default=0, help="years of the employee runs")
    ap.add_argument("--series", default="", help="exactly these runs, e.g. 1000000x5,10000x20")
    ap.add_argument("--reps", type=int, default=0, help="restore/IMPORT pairs (default 3)")
    ap.add_argument("--growth-rate", type=float, default=0.0, help="headcount growth a year")
    ap.add_argument("--write", action="store_true", help="write docs/benchmarks-scale.*")
    ap.add_argument("--add", action="store_true", help="keep the other series of the .json")
    ap.add_argument("--redraw", action="store_true", help="rewrite the page from the .json")
    ap.add_argument("--workdir", default="", help="where to build (default: a temp dir)")
    args = ap.parse_args()
    if args.redraw:
        publish(*load(), write=True)
        return 0
    base_n = args.base_employees or (10_000 if args.quick else 100_000)
    base_y = args.base_years or (3 if args.quick else 5)

    def ints(text: str, default: str) -> list[int]:
        return [int(x) for x in (text or default).split(",") if x]

    years = ints(args.years, "3,6" if args.quick else "5,10,20")
    employees = ints(args.employees, "5000,10000,20000" if args.quick else "10000,100000,1000000")
    reps = args.reps or (2 if args.quick else 3)
    if args.series:
        plan = [(int(a), int(b)) for a, b in (x.split("x") for x in args.series.split(","))]
    else:
        plan = list(
            dict.fromkeys([*((base_n, y) for y in years), *((n, base_y) for n in employees)])
        )
    cmd = "python " + " ".join(["scripts/bench_scale.py", *sys.argv[1:]])
    meta: dict[str, Any] = {
        "growth_rate": args.growth_rate,
        "base_employees": base_n,
        "base_years": base_y,
        "machine": machine(),
        "commands": [],
    }
    kept: list[Series] = []
    if args.add and RESULTS.exists():
        kept, old = load()
        if old["growth_rate"] != args.growth_rate:
            sys.exit(f"--add: {RESULTS} was measured with another --growth-rate")
        meta = {**old, "commands": old["commands"]}
        kept = [x for x in kept if (x.employees, x.years) not in plan]
    meta["commands"] = [*meta["commands"], [cmd, dt.date.today().isoformat()]]
    base = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="navsnap-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    series: list[Series] = []
    t0 = time.perf_counter()
    try:
        for n, y in plan:
            work = base / f"n{n}-y{y}"
            shutil.rmtree(work, ignore_errors=True)
            r = reps if n < 1_000_000 else 1
            series.append(
                run_series(n, y, reps=r, growth=args.growth_rate, work=work,
                           log=lambda m: print(m, flush=True))
            )  # fmt: skip
            shutil.rmtree(work, ignore_errors=True)
    finally:
        if not args.workdir:
            shutil.rmtree(base, ignore_errors=True)
    print(f"== measured in {time.perf_counter() - t0:.0f} s", flush=True)
    publish([*kept, *series], meta, write=args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
