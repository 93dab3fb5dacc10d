"""What `navsnap run` shows: per-year summaries that fit 80 columns, a live status line with
the phases inside a year and a labelled ETA, and the library's phase callbacks behind it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from navsnap.cli.progress import RunProgress, format_eta, year_summary
from navsnap.config import Config
from navsnap.runner import YearResult, run

#: A dbt-shaped year: many tables with long names (the old line was 700+ characters).
MANY = {f"int_employee_contribution_detail_{i:02d}": 12_345 + i for i in range(40)}


def test_year_summary_fits_80_columns_and_verbose_wraps_whole_names() -> None:
    y = YearResult(2027, 12.3456, MANY, "sid", 4.5, 123_456_789)
    [line] = year_summary(y)
    assert line == "2027  step 12.35s  494,580 rows in 40 tables  snapshot 4.50s +123.5 MB"
    lines = year_summary(y, verbose=True)
    assert lines[0] == line and all(len(x) <= 80 for x in lines)
    words = " ".join(lines[1:]).split()
    assert all(name in words for name in MANY)  # no table name cut across lines
    no_snapshot = YearResult(2025, 0.5, {"t": 1})
    assert year_summary(no_snapshot) == ["2025  step 0.50s  1 rows in 1 table"]


def test_format_eta() -> None:
    assert format_eta(None) == "ETA --"
    assert format_eta(65.4) == "ETA 1:05"
    assert format_eta(3725) == "ETA 1:02:05"


def test_status_line_shows_step_and_overlapped_snapshot_with_eta(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    p = RunProgress(enabled=True, years_total=5, stream=out)
    now = [100.0]
    monkeypatch.setattr(p, "_now", lambda: now[0])
    p._started = 100.0
    p.year_started(2025)
    assert p.status_line() == "[0/5]  step 2025  ETA --"
    p("step 2025", 1, 1)
    p.year_started(2026)
    p("fingerprint 2025", 3, 9)
    assert p.status_line() == "[0/5]  step 2026  snapshot 2025: fingerprint 3/9  ETA --"
    p("export 2025", 9, 9)
    now[0] = 120.0
    p("years", 1, 5)
    p.year_done(2025)
    assert p.status_line() == "[1/5]  step 2026  ETA 1:20"  # 20 s a year, 4 years left
    long = RunProgress(enabled=False, years_total=5)
    long("export " + "9" * 120, 1, 2)
    assert len(long.status_line()) <= 79
    assert "\r\x1b[K[0/5]  step 2025" in out.getvalue()
    with p.above():
        out.write("a summary line\n")
    p.close()
    assert out.getvalue().endswith("\r\x1b[K")  # the status line is gone after the run


def test_quiet_or_not_a_terminal_draws_nothing() -> None:
    out = io.StringIO()
    p = RunProgress(enabled=False, years_total=2, stream=out)
    p.year_started(2025)
    p("export 2025", 1, 2)
    with p.above():
        pass
    p.close()
    assert out.getvalue() == ""


def test_library_reports_the_phases_inside_each_year(tmp_path: Path, toy_config: Config) -> None:
    calls: list[tuple[str, int, int]] = []
    run(toy_config, db=tmp_path / "sim.duckdb", years=(2025, 2026),
        progress=lambda phase, done, total: calls.append((phase, done, total)))  # fmt: skip
    phases = [c[0] for c in calls]
    for year in (2025, 2026):
        step_end = phases.index(f"step {year}", phases.index(f"step {year}") + 1)
        assert calls[step_end] == (f"step {year}", 1, 1)
        first_fp = phases.index(f"fingerprint {year}")
        assert step_end < first_fp < phases.index(f"export {year}")
        exports = [c for c in calls if c[0] == f"export {year}"]
        assert exports[-1][1] == exports[-1][2] > 0  # export N/N at the end
    assert [c for c in calls if c[0] == "years"] == [("years", 1, 2), ("years", 2, 2)]
