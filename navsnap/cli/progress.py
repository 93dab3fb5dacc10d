"""What `navsnap run` shows while it works: one live status line, and a summary per year.

The library reports ``progress(phase, done, total)``; the year loop's phases carry their
year: ``step 2027``, ``fingerprint 2026``, ``export 2026`` (a year's snapshot is exported
while the next year's step runs, so a step and a snapshot can be in progress at once),
``years`` (years finished), and a restore's own phases. The status line shows the step and
the snapshot side by side with a labelled ETA, and fits 80 columns. It is drawn on a
terminal only; the per-year summaries are printed always (one line each; ``-v`` adds the
row count of every year-scoped table, wrapped to 80 columns).
"""

from __future__ import annotations

import shutil
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from navsnap.cli.common import human_bytes
from navsnap.runner import YearResult

__all__ = ["RunProgress", "format_eta", "year_summary"]

WIDTH = 80
_SNAPSHOT_PHASES = ("fingerprint", "export", "upload")


def _fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` at a word boundary with an ellipsis, never mid-word."""
    if len(text) <= width:
        return text
    head = text[: width - 3]
    if " " in head and text[width - 3] != " ":
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" :,") + "..."


def year_summary(y: YearResult, *, verbose: bool = False, width: int = WIDTH) -> list[str]:
    """The lines printed when a year is done: one line that fits ``width``, and with
    ``verbose`` the row count of each year-scoped table, wrapped to ``width``."""
    total = sum(y.rows.values())
    tables = f"{total:,} rows in {len(y.rows)} table{'s' if len(y.rows) != 1 else ''}"
    line = f"{y.year}  step {y.seconds:.2f}s  {tables}"
    if y.snapshot_id:
        line += f"  snapshot {y.snapshot_seconds:.2f}s +{human_bytes(y.snapshot_new_bytes)}"
    lines = [_fit(line, width)]
    if verbose and y.rows:
        detail = "  ".join(f"{k} {v:,}" for k, v in sorted(y.rows.items()))
        lines += textwrap.wrap(
            detail,
            width=width,
            initial_indent="      ",
            subsequent_indent="      ",
            break_long_words=False,
            break_on_hyphens=False,
        )
    return lines


def format_eta(seconds: float | None) -> str:
    """``ETA 1:05`` (``ETA 1:02:05`` past an hour); ``ETA --`` before it can be estimated."""
    if seconds is None:
        return "ETA --"
    s = max(0, round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"ETA {h}:{m:02d}:{sec:02d}" if h else f"ETA {m}:{sec:02d}"


class RunProgress:
    """The live status line of a run (thread-safe: snapshots report from their thread).

    Call it as the library's ``progress`` callback; :meth:`year_started` and
    :meth:`year_done` come from the run's events. ``enabled`` False draws nothing.
    """

    def __init__(
        self,
        *,
        enabled: bool,
        years_total: int,
        stream: TextIO | None = None,
    ) -> None:
        self.enabled = enabled
        self.years_total = max(1, years_total)
        self.stream = stream if stream is not None else sys.stderr
        self._now = time.monotonic
        self._lock = threading.Lock()
        self._slots: dict[str, str] = {}
        self._years_done = 0
        self._started = self._now()
        self._year_started: float | None = None
        self._drawn = False
        self._last_draw = 0.0

    # ------------------------------------------------------------------ events

    def __call__(self, phase: str, done: int, total: int) -> None:
        name, _, year = phase.partition(" ")
        with self._lock:
            if name == "years":
                self._years_done = done
                return
            if name == "step":
                slot, text = "step", f"step {year}" + (" done" if done >= total else "")
            elif name in _SNAPSHOT_PHASES:
                slot = "snapshot"
                text = f"snapshot {year}: {name} {done}/{total}"
                if done >= total and name == "export":
                    text = f"snapshot {year}: committing"
            else:  # a restore's phases (verify, load, check ...)
                slot, text = "step", f"{phase} {done}/{total}"
            self._slots[slot] = text
            self._draw(force=done == 0 or done >= total)

    def year_started(self, year: int) -> None:
        with self._lock:
            self._year_started = self._now()
            self._slots["step"] = f"step {year}"
            self._draw(force=True)

    def year_done(self, year: int) -> None:
        """A year's snapshot committed: its snapshot phase leaves the status line."""
        with self._lock:
            for slot in ("step", "snapshot"):
                text = self._slots.get(slot, "")
                if text.startswith((f"step {year}", f"snapshot {year}")):
                    del self._slots[slot]

    def eta_seconds(self) -> float | None:
        """Seconds left: the mean time of the finished years times the years left."""
        if self._years_done == 0:
            return None
        per_year = (self._now() - self._started) / self._years_done
        return per_year * (self.years_total - self._years_done)

    def status_line(self, width: int = WIDTH) -> str:
        head = f"[{self._years_done}/{self.years_total}]"
        parts = [head, *(self._slots[k] for k in ("step", "snapshot") if k in self._slots)]
        parts.append(format_eta(self.eta_seconds()))
        line = "  ".join(parts)
        return _fit(line, width - 1)  # never the last column: no wrap on any terminal

    # ------------------------------------------------------------------ drawing

    def _draw(self, *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self._now()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        width = min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)
        self.stream.write("\r\x1b[K" + self.status_line(width))
        self.stream.flush()
        self._drawn = True

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False

    @contextmanager
    def above(self) -> Iterator[None]:
        """Print lines above the status line (it is cleared first and drawn again after)."""
        with self._lock:
            self._clear()
            try:
                yield
            finally:
                self._draw(force=True)

    def close(self) -> None:
        with self._lock:
            self._clear()
            self.enabled = False
