"""Named crash points for the kill-anywhere tests.

``NAVSNAP_FAULT=<point>[@<n>]`` makes the process kill itself with SIGKILL the n-th time
(default 1st) it reaches ``fault_point(<point>)``. ``NAVSNAP_FAULT=<point>[@<n>]:stall`` stops
the process there instead (SIGSTOP), so that a test's own SIGKILL, sent at any moment, always
lands in a live process however fast the machine is. It exists only for testing crash safety
(``tests/test_crash.py``); with the variable unset a fault point costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["POINTS", "fault_point"]

#: Every named point, so tests can iterate over them.
POINTS = (
    "after-parquet-write",
    "before-object-publish",
    "after-object-publish",
    "before-manifest",
    "after-manifest",
    "after-step",
    "restore-after-load",
    "restore-before-swap",
    "restore-after-move-aside",
    "restore-after-swap",
    "delta-mid-transaction",
    "delta-after-commit",
    "file-copy-mid",
    "hot-after-stage",
    "hot-before-publish",
    "hot-after-publish",
    "prune-after-manifest-delete",
    "prune-mid-objects",
)

_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    spec = os.environ.get("NAVSNAP_FAULT")
    if not spec:
        return
    spec, _, action = spec.partition(":")
    point, _, nth = spec.partition("@")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(nth or "1"):
        os.kill(os.getpid(), signal.SIGSTOP if action == "stall" else signal.SIGKILL)
