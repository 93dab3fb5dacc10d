"""Tags: names that pin snapshots. A tagged snapshot is never pruned.

A tag is a small file in the store naming one snapshot (``docs/format.md``); the repository
(:meth:`navsnap.store.Store.tags`) reads and writes them, and a tag works wherever a snapshot
id does (``restore``, ``show``, ``diff``).
"""

from __future__ import annotations

from dataclasses import dataclass

from navsnap.errors import SnapshotNotFound, UsageError
from navsnap.index import LATEST, resolve
from navsnap.store import Store, layout

__all__ = ["TagChange", "tag", "untag"]


@dataclass(frozen=True)
class TagChange:
    name: str
    snapshot_id: str
    previous: str | None  # the snapshot the tag named before (tag), or None


def _check_name(name: str) -> None:
    if name == LATEST:
        raise UsageError(
            f"tag name {name!r} is reserved: it means the database's newest snapshot",
            hint="choose another name",
        )
    try:
        layout.tag_key(name)
    except ValueError:
        raise UsageError(
            f"tag name {name!r} is not allowed",
            hint="use letters, digits, '.', '_' or '-', starting with a letter or digit",
        ) from None


def _check_new_name(name: str) -> None:
    """A new tag must not look like a run or snapshot id: a tag is found before a run, so a
    tag named like run R would answer ``R@2027`` (and ``--year 2027`` with ``R``) with
    whatever snapshot it pins. Existing such tags still resolve, and can be removed."""
    _check_name(name)
    if layout.is_made_id(name):
        raise UsageError(
            f"tag name {name!r} has the shape of a run id or snapshot id: it would take the "
            "place of that run in RUN@YEAR references",
            hint="choose a name that is not <UTC time>Z-<4 hex digits>[-<year>], e.g. release-1",
        )


def tag(store: Store, ref: str, name: str, *, force: bool = False) -> TagChange:
    """Pin snapshot ``ref`` (id, unique prefix or tag) under ``name``; UsageError for a name
    not allowed, or shaped like a run or snapshot id navsnap makes."""
    _check_new_name(name)
    store.check_readable()
    ids = store.manifest_ids()
    if name in ids or name in {layout.run_of(i) for i in ids}:
        # A run id chosen by hand (checkpoint --run) has no fixed shape: refused by name.
        raise UsageError(
            f"tag name {name!r} is the id of a run or snapshot in this store: it would take "
            "its place in references",
            hint="choose another name",
        )
    manifest = resolve(store, ref)
    existing = store.tags().get(name)
    if existing is not None and existing != manifest.snapshot_id and not force:
        raise UsageError(
            f"tag {name!r} already names snapshot {existing}",
            hint="untag it first, or pass --force to move it",
        )
    if existing == manifest.snapshot_id:
        return TagChange(name, manifest.snapshot_id, existing)
    store.write_tag(name, manifest.snapshot_id)
    return TagChange(name, manifest.snapshot_id, existing)


def untag(store: Store, name: str) -> TagChange:
    """Remove tag ``name``; the snapshot itself stays."""
    _check_name(name)
    store.check_readable()
    existing = store.tags().get(name)
    if existing is None and not store.has_tag_file(name):
        raise SnapshotNotFound(f"no tag {name!r} in {store.url!r}", hint="see 'navsnap list'")
    store.delete_tag(name)
    return TagChange(name, existing or "", None)
