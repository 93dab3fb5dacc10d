"""pytest plugin: restored snapshots as test fixtures (entry point ``pytest11: navsnap``).

``navsnap_restore(ref, store=None) -> Path`` restores the snapshot ``ref`` (an id, a unique
id prefix or a tag such as ``fixture-small``) and returns the path of a DuckDB file that the
test owns. Each snapshot is restored once per session into a session temporary directory;
every test gets its own copy of that file in its ``tmp_path``, so a test may change it freely.

The store is the ``store=`` argument, else ``--navsnap-store``, else the ``navsnap_store`` ini
option (a relative path there is relative to the ini file), else the ``NAVSNAP_STORE``
environment variable. See ``docs/ci-fixtures.md``.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["NavsnapFixtures", "navsnap_restore"]

STORE_ENV = "NAVSNAP_STORE"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("navsnap", "navsnap snapshot fixtures")
    group.addoption(
        "--navsnap-store",
        dest="navsnap_store",
        default=None,
        help="Store the navsnap_restore fixture restores from (path or s3:// URL).",
    )
    parser.addini("navsnap_store", "Default store for the navsnap_restore fixture.", default="")


class NavsnapFixtures:
    """Snapshots restored once per session, copied per test."""

    def __init__(self, root: Path, default_store: str | None) -> None:
        self.root = root
        self.default_store = default_store
        self._restored: dict[tuple[str, str], Path] = {}
        self._lock = threading.Lock()

    def _store(self, store: str | os.PathLike[str] | None) -> str:
        url = os.fspath(store) if store is not None else self.default_store
        if not url:
            raise pytest.UsageError(
                "navsnap_restore needs a store: pass store=..., --navsnap-store, "
                f"the navsnap_store ini option or {STORE_ENV}"
            )
        return url

    def session_copy(self, ref: str, *, store: str | os.PathLike[str] | None = None) -> Path:
        """The session's restored file of ``ref`` (restored on first use). Do not modify it."""
        from navsnap.api import restore, show

        url = self._store(store)
        snapshot_id = show(url, ref).snapshot_id
        with self._lock:
            found = self._restored.get((url, snapshot_id))
            if found is not None and found.exists():
                return found
            target = self.root / f"{len(self._restored):03d}-{snapshot_id}.duckdb"
            restore(store=url, db=target, snapshot=snapshot_id, to=target)
            self._restored[(url, snapshot_id)] = target
            return target

    def copy_into(
        self, dest_dir: Path, ref: str, *, store: str | os.PathLike[str] | None = None
    ) -> Path:
        src = self.session_copy(ref, store=store)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in ref)
        dest = dest_dir / f"{safe}.duckdb"
        n = 1
        while dest.exists():
            n += 1
            dest = dest_dir / f"{safe}-{n}.duckdb"
        shutil.copyfile(src, dest)
        return dest


@pytest.fixture(scope="session")
def navsnap_fixtures(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> NavsnapFixtures:
    """The session-wide cache behind :func:`navsnap_restore`."""
    config = request.config
    store = (
        config.getoption("navsnap_store", default=None)
        or _ini_store(config)
        or os.environ.get(STORE_ENV)
        or None
    )
    return NavsnapFixtures(tmp_path_factory.mktemp("navsnap-fixtures"), store)


def _ini_store(config: pytest.Config) -> str:
    """The ``navsnap_store`` ini option; a relative path is relative to the ini file's folder
    (as pytest's own ``testpaths``), so the suite finds its store from any working directory."""
    value = str(config.getini("navsnap_store") or "")
    if not value or "://" in value or os.path.isabs(value) or config.inipath is None:
        return value
    return os.path.join(config.inipath.parent, value)


@pytest.fixture
def navsnap_restore(navsnap_fixtures: NavsnapFixtures, tmp_path: Path) -> Callable[..., Path]:
    """``navsnap_restore(ref, store=None) -> Path``: this test's own copy of a snapshot."""

    def restore(ref: str, *, store: str | os.PathLike[str] | None = None) -> Path:
        return navsnap_fixtures.copy_into(tmp_path, ref, store=store)

    return restore
