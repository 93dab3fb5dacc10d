"""Kill-anywhere soak: hundreds of SIGKILLs of navsnap, each followed by the full check.

Uses the harness of ``tests/test_crash.py`` (same golden states, same checks): named fault
points (``NAVSNAP_FAULT``) at random occurrences, and timed kills of the built-in simulation
at seeded random delays, some in chains (the ``--resume`` that recovers from a kill is killed
again). After every kill ``verify --all`` must pass and the database must be at a year
boundary or restorable; after every job the recovery (``--resume``, or repeating the
interrupted restore/prune) must end with the tables of an uninterrupted run.

    .venv/bin/python scripts/soak.py --kills 500 --workers 2 --seed 1

Prints one line per job and a summary: kills by fault point and by database state right
after the kill, jobs whose process finished before it could be killed, and failures. Exit
status 1 if any check failed.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

import test_crash as h  # noqa: E402
from conftest import table_fingerprints  # noqa: E402

#: How often each point is reached by a fresh toy run of 2025-2029 (the harness's counts).
RUN_REACH = {
    **dict.fromkeys(h.PER_WRITE, h.WRITES_BY_YEAR[-1]),
    **dict.fromkeys(("before-manifest", "after-manifest", "after-step"), len(h.WRITES_BY_YEAR)),
}


@dataclass(frozen=True)
class Job:
    kind: str  # "named" | "timed"
    case: h.Case | None = None
    delays: tuple[float, ...] = ()

    @property
    def label(self) -> str:
        if self.case is not None:
            return self.case.id
        return "timed " + "+".join(f"{d:.2f}s" for d in self.delays)


@dataclass
class Result:
    job: Job
    kills: int = 0
    finished: int = 0
    states: list[str] = field(default_factory=list)
    note: str = ""
    error: str = ""
    seconds: float = 0.0


def plan(kills: int, seed: int, timed_share: float, seconds: float) -> list[Job]:
    """Jobs whose kills add up to at least ``kills`` (a timed chain counts each link)."""
    rng = random.Random(seed)
    named = h.named_cases()
    jobs: list[Job] = []
    total = 0
    i = 0
    while total < kills:
        if rng.random() < timed_share:
            links = rng.choice((1, 1, 2, 3))
            delays = tuple(round(rng.uniform(0.8, seconds * 0.9), 3) for _ in range(links))
            jobs.append(Job("timed", delays=delays))
            total += links
        else:
            case = named[i % len(named)]
            i += 1
            point = case.fault.partition("@")[0]
            if case.state == "empty" and point in RUN_REACH:
                # The case itself, not only its fault: a fresh run's case stops one year
                # after the year its kill falls in (h.fresh_run_case), so a later
                # occurrence needs a longer run, or the point is never reached.
                case = h.fresh_run_case(point, rng.randint(1, RUN_REACH[point]))
            jobs.append(Job("named", case=case))
            total += 1
    rng.shuffle(jobs)
    return jobs


def _named(job: Job, golden: dict[str, Path], refs: dict[int, h.Fingerprints], tmp: Path) -> Result:
    assert job.case is not None
    harness = h.Harness(golden, refs, lambda: {}, lambda: 0.0)
    state, store, recovery = h.run_named_case(harness, job.case, tmp)
    return Result(job, kills=1, states=[state], note=f"{store}; {recovery}")


def _timed(job: Job, employees: int, ref: h.Fingerprints, tmp: Path) -> Result:
    """A chain of timed kills on one directory, then the final resume and comparison."""
    import navsnap

    res = Result(job)
    for n, delay in enumerate(job.delays):
        returncode, err = h.kill_run_after(
            tmp, delay, employees=employees, resume=n > 0, exit_timeout=120
        )
        if returncode == -9:
            res.kills += 1
        elif returncode == 0:
            res.finished += 1
        else:
            raise AssertionError(f"run exited {returncode}: {err[-500:]}")
        state = h.db_state(tmp / h.DB, {})
        res.states.append("opens" if state in ("mid-year", "empty") else state)
        h.check_store(tmp)
    report = navsnap.run(
        h.sim_config(employees), db=tmp / h.DB, years=h.YEARS, store=str(tmp / h.STORE),
        resume=True,
    )  # fmt: skip
    assert table_fingerprints(tmp / h.DB) == ref, "resumed run differs"
    assert not h.leftovers(tmp), h.leftovers(tmp)
    assert report.decision is not None
    res.note = f"resume {report.decision.action}; {h.check_store(tmp)}"
    return res


def run_job(
    job: Job,
    golden: dict[str, Path],
    refs: dict[int, h.Fingerprints],
    sim_ref: h.Fingerprints,
    employees: int,
    scratch: str,
) -> Result:
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="job-", dir=scratch))
    try:
        if job.kind == "named":
            result = _named(job, golden, refs, tmp)
        else:
            work = tmp / "w"
            work.mkdir()
            result = _timed(job, employees, sim_ref, work)
    except Exception as exc:  # a failed check: report it, keep soaking
        # Not counted as a kill: the check that failed may be the one that saw no kill.
        result = Result(job, error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = time.monotonic() - t0
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--kills", type=int, default=500, help="at least this many kills")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    ap.add_argument("--employees", type=int, default=4000, help="size of the timed runs")
    ap.add_argument("--timed-share", type=float, default=0.4, help="share of timed jobs")
    args = ap.parse_args(argv)

    import navsnap

    scratch = tempfile.mkdtemp(prefix="navsnap-soak-")
    root = Path(scratch) / "golden"
    root.mkdir()
    t0 = time.monotonic()
    golden = h.build_golden(root)
    refs = h.reference_fingerprints(root, h.toy_config())
    sim_ref_db = root / "sim-ref.duckdb"
    navsnap.run(h.sim_config(args.employees), db=sim_ref_db, years=h.YEARS, snapshots=False)
    sim_ref = table_fingerprints(sim_ref_db)
    timing = root / "timing"
    timing.mkdir()
    t1 = time.monotonic()
    h._cli("run", "--years", h.SPAN, "--employees", str(args.employees), *h.WHERE, cwd=timing)
    run_seconds = time.monotonic() - t1
    jobs = plan(args.kills, args.seed, args.timed_share, run_seconds)
    print(
        f"soak: {len(jobs)} jobs for >= {args.kills} kills, {args.workers} worker(s), seed "
        f"{args.seed}; a simulation run of {args.employees} employees takes {run_seconds:.1f}s",
        flush=True,
    )

    results: list[Result] = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
        n = 0
        while jobs:
            futures = [
                pool.submit(run_job, j, golden, refs, sim_ref, args.employees, scratch)
                for j in jobs
            ]
            for fut in as_completed(futures):
                r = fut.result()
                results.append(r)
                n += 1
                status = "FAIL" if r.error else "ok"
                line = r.error.splitlines()[0] if r.error else f"{', '.join(r.states)}; {r.note}"
                print(f"[{n:4}] {status:4} {r.job.label}: {line}", flush=True)
            # Timed runs that finished before their kill time are no kill: top up with
            # named kills (which always kill) until the count is reached.
            short = args.kills - sum(r.kills for r in results)
            jobs = plan(short, args.seed + n, 0.0, run_seconds) if short > 0 else []

    kills = sum(r.kills for r in results)
    finished = sum(r.finished for r in results)
    failures = [r for r in results if r.error]
    by_point: collections.Counter[str] = collections.Counter()
    by_state: collections.Counter[str] = collections.Counter()
    by_command: collections.Counter[str] = collections.Counter()
    for r in results:
        if r.job.case is not None:
            by_point[r.job.case.fault.partition("@")[0]] += r.kills
            by_command[r.job.case.args[0]] += r.kills
        else:
            by_point["(timed)"] += r.kills
            by_command["run (timed)"] += r.kills
        for s in r.states:
            by_state[s] += 1
    print()
    print(f"kills: {kills} (named {kills - by_point['(timed)']}, timed {by_point['(timed)']})")
    print(f"runs that finished before their kill time (no kill): {finished}")
    print("kills by command: " + ", ".join(f"{k} {v}" for k, v in sorted(by_command.items())))
    print("kills by point:   " + ", ".join(f"{k} {v}" for k, v in sorted(by_point.items())))
    print("database after the kill: " + ", ".join(f"{k} {v}" for k, v in by_state.most_common()))
    print(f"failures: {len(failures)}; wall time {time.monotonic() - t0:.0f}s")
    for r in failures:
        print(f"--- {r.job.label}\n{r.error}")
    if not failures:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print(f"work directories of failed jobs kept under {scratch}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
