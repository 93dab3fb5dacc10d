"""The snapshot store, in layers (see ``docs/architecture.md``, "Storage layers").

* :mod:`~navsnap.store.layout`: the only place a path inside a store is spelled;
* :mod:`~navsnap.store.backend`: the contract a place holding bytes fulfils, with its
  declared :class:`Capabilities`;
* :mod:`~navsnap.store.local` and :mod:`~navsnap.store.remote` (fsspec): the backends;
* :mod:`~navsnap.store.cache`: the local object cache and :class:`CachedBackend`, which wraps
  a backend with it;
* :mod:`~navsnap.store.deadline`: the wall-clock deadline of every remote operation;
* :mod:`~navsnap.store.trust`: the keyed MAC of a signed store's manifests, tags and marker;
* :mod:`~navsnap.store.repository`: :class:`Store`, the navsnap store on top (marker and
  version, manifests, tags, state, referenced and collectable objects).

Nothing outside this package reads or writes a store but through :class:`Store`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from navsnap.store import layout
from navsnap.store.backend import Backend, Capabilities, ObjectInfo
from navsnap.store.local import LocalBackend
from navsnap.store.repository import (
    STORE_FORMAT_VERSION,
    BrokenManifest,
    BrokenTag,
    Store,
    Unreferenced,
    open_store,
    referenced_objects,
)

if TYPE_CHECKING:
    from navsnap.store.cache import CachedBackend, CacheStats, ObjectCache, default_cache_dir
    from navsnap.store.remote import RemoteBackend, clear_filesystem_cache

#: Imported on first use: the remote backend and the object cache (and its thread pool) serve
#: only remote stores, and ``navsnap status`` on a local store starts without them.
_LAZY = {
    "CacheStats": "cache",
    "CachedBackend": "cache",
    "ObjectCache": "cache",
    "default_cache_dir": "cache",
    "RemoteBackend": "remote",
    "clear_filesystem_cache": "remote",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"navsnap.store.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "STORE_FORMAT_VERSION",
    "Backend",
    "BrokenManifest",
    "BrokenTag",
    "CacheStats",
    "CachedBackend",
    "Capabilities",
    "LocalBackend",
    "ObjectCache",
    "ObjectInfo",
    "RemoteBackend",
    "Store",
    "Unreferenced",
    "clear_filesystem_cache",
    "default_cache_dir",
    "layout",
    "open_store",
    "referenced_objects",
]
