"""Where a run's snapshots go: one rule for the library and the CLI.

The store is, in order: the one passed in (a :class:`~navsnap.store.Store` or a path or
fsspec URL), the config's ``[snapshot] store``, else ``snapshots/`` beside the database.
"""

from __future__ import annotations

import os
from pathlib import Path

from navsnap.config import Config
from navsnap.store import Store, open_store

__all__ = ["default_store_url", "resolve_store", "store_url"]

PathLike = str | os.PathLike[str]


def default_store_url(db_path: PathLike) -> str:
    """``snapshots/`` in the database's directory."""
    return str(Path(db_path).absolute().parent / "snapshots")


def store_url(store: PathLike | None, *, config: Config | None, db_path: PathLike) -> str:
    """``store``, else ``[snapshot] store`` of ``config``, else :func:`default_store_url`."""
    if store is not None and os.fspath(store):
        return os.fspath(store)
    if config is not None and config.snapshot.store:
        return config.snapshot.store
    return default_store_url(db_path)


def resolve_store(
    store: Store | PathLike | None, *, config: Config | None, db_path: PathLike
) -> Store:
    """The store to use (see the module docstring), opened."""
    if isinstance(store, Store):
        return store
    return open_store(store_url(store, config=config, db_path=db_path))
