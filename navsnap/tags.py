"""Tags: names that pin snapshots. A tagged snapshot is never pruned.

A tag is the file ``tags/<name>.json`` = ``{"snapshot_id": "..."}``; :func:`navsnap.index.tags`
reads them, and a tag works wherever a snapshot id does (``restore``, ``show``, ``diff``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from navsnap.errors import SnapshotNotFound, UsageError
from navsnap.index import resolve
from navsnap.index import tags as read_tags
from navsnap.storage import Store

__all__ = ["TagChange", "tag", "untag"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


@dataclass(frozen=True)
class TagChange:
    name: str
    snapshot_id: str
    previous: str | None  # the snapshot the tag named before (tag), or None


def _key(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"tag name {name!r} is not allowed",
            hint="use letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return f"tags/{name}.json"


def tag(store: Store, ref: str, name: str, *, force: bool = False) -> TagChange:
    """Pin snapshot ``ref`` (id, unique prefix or tag) under ``name``."""
    key = _key(name)
    store.check_readable()
    manifest = resolve(store, ref)
    existing = read_tags(store).get(name)
    if existing is not None and existing != manifest.snapshot_id and not force:
        raise UsageError(
            f"tag {name!r} already names snapshot {existing}",
            hint="untag it first, or pass --force to move it",
        )
    if existing == manifest.snapshot_id:
        return TagChange(name, manifest.snapshot_id, existing)
    body = json.dumps({"snapshot_id": manifest.snapshot_id}, sort_keys=True).encode()
    store.write_bytes_atomic(key, body, overwrite=True)
    return TagChange(name, manifest.snapshot_id, existing)


def untag(store: Store, name: str) -> TagChange:
    """Remove tag ``name``; the snapshot itself stays."""
    key = _key(name)
    store.check_readable()
    existing = read_tags(store).get(name)
    if existing is None and not store.exists(key):
        raise SnapshotNotFound(f"no tag {name!r} in {store.url!r}", hint="see 'navsnap list'")
    store.delete(key)
    return TagChange(name, existing or "", None)
