"""scripts/soak.py plans its kills of a fresh run at random occurrences of a fault point;
each such job must run long enough to reach its occurrence (a fresh run's case stops one
year after the year its kill falls in), or the soak reports "not killed" for a run that
was never going to be. The plan is pure: nothing is run here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

import soak
import test_crash as h  # the harness soak plans with (soak.h)


@pytest.mark.parametrize("seed", range(1, 6))
def test_every_fresh_run_job_reaches_its_kill(seed: int) -> None:
    jobs = soak.plan(300, seed, 0.5, 2.0)
    fresh = [
        j.case
        for j in jobs
        if j.case is not None
        and j.case.state == "empty"
        and j.case.fault.partition("@")[0] in soak.RUN_REACH
    ]
    assert fresh  # the plan has such jobs
    for case in fresh:
        point, _, nth = case.fault.partition("@")
        assert h.kill_year(point, int(nth)) <= case.years[1], case.id


def test_the_reach_counts_are_the_harness_counts() -> None:
    """A toy run of 2025-2029 writes WRITES_BY_YEAR[-1] objects and one manifest a year, and
    each point's last occurrence is the one the harness places in the run's last year."""
    assert soak.RUN_REACH["after-parquet-write"] == h.WRITES_BY_YEAR[-1]
    assert soak.RUN_REACH["before-manifest"] == h.YEARS[1] - h.YEARS[0] + 1
    for point, reach in soak.RUN_REACH.items():
        assert h.kill_year(point, reach) == h.YEARS[1], point
