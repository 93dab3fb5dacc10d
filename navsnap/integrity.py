"""Checking a snapshot's objects against the sizes and xxh3-128 hashes its manifest records.

:func:`object_problem` checks one object and says what is wrong (``verify`` reports it);
:func:`verify_objects` checks several and raises on the first bad one (restore, resume and
the fallback search use it); :func:`fetch_verified` also makes them local (the object cache
of a remote store); :func:`check_present` checks only that they exist with their sizes, cheap
enough for ``sql`` and ``attach`` to run before every query. Remote objects are checked in
parallel (network bound). Every bad object is reported by :func:`object_error`, in one wording.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from navsnap.errors import IntegrityError
from navsnap.manifest import Manifest, ObjectRef
from navsnap.store import Store

__all__ = [
    "ObjectCheck",
    "check_object",
    "check_present",
    "check_size",
    "damaged_hint",
    "fetch_verified",
    "object_error",
    "verify_objects",
]

#: What to do about a bad object of a snapshot a restore needs.
RESTORE_HINT = "restore another snapshot; 'navsnap verify --all' lists the intact ones"


def damaged_hint(snapshot_id: str) -> str:
    """What to do about a snapshot found damaged while reading it in place (sql, attach)."""
    return (
        f"run 'navsnap verify --deep {snapshot_id}', or use another snapshot "
        "('navsnap verify --all' lists the intact ones)"
    )


ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class ObjectCheck:
    """The result of checking one object: ``problem`` is None, "missing" or "corrupt"."""

    obj: ObjectRef
    problem: str | None
    detail: str = ""
    bytes_hashed: int = 0


def check_object(store: Store, obj: ObjectRef) -> ObjectCheck:
    """Hash ``obj`` in the store and compare it with its reference."""
    try:
        digest, size = store.hash_object(obj.key)
    except FileNotFoundError:
        return ObjectCheck(obj, "missing", "object is missing")
    except IntegrityError as exc:  # not a regular file inside the store: never opened
        return ObjectCheck(obj, "corrupt", exc.message)
    if size != obj.size:
        return ObjectCheck(obj, "corrupt", f"size {size}, expected {obj.size}", size)
    if digest != obj.xxh3:
        return ObjectCheck(obj, "corrupt", f"xxh3 {digest}, expected {obj.xxh3}", size)
    return ObjectCheck(obj, None, "", size)


def check_size(store: Store, obj: ObjectRef) -> ObjectCheck:
    """Whether ``obj`` is in the store with its recorded size (nothing read but its size)."""
    try:
        size = store.info(obj.key).size
    except FileNotFoundError:
        return ObjectCheck(obj, "missing", "object is missing")
    if size != obj.size:
        return ObjectCheck(obj, "corrupt", f"size {size}, expected {obj.size}")
    return ObjectCheck(obj, None)


def object_error(manifest: Manifest, result: ObjectCheck, *, hint: str) -> IntegrityError:
    """The error naming one bad object of ``manifest`` (``result.problem`` is set)."""
    obj = result.obj
    what = "missing" if result.problem == "missing" else f"corrupt ({result.detail})"
    return IntegrityError(
        f"object {obj.key} of snapshot {manifest.snapshot_id} is {what}",
        path=obj.key,
        snapshot_id=manifest.snapshot_id,
        hint=hint,
    )


def verify_objects(
    store: Store,
    manifest: Manifest,
    objects: Iterable[ObjectRef],
    *,
    progress: ProgressFn | None = None,
    hint: str = RESTORE_HINT,
) -> None:
    """Check size and xxh3-128 of each object; raise IntegrityError naming the first bad one."""
    _first_bad(store, manifest, objects, check_object, progress=progress, hint=hint)


def check_present(
    store: Store, manifest: Manifest, objects: Iterable[ObjectRef], *, hint: str
) -> None:
    """Check that each object exists with its recorded size (a stat, or a HEAD request:
    nothing is read); raise IntegrityError naming the first bad one."""
    _first_bad(store, manifest, objects, check_size, progress=None, hint=hint)


def _first_bad(
    store: Store,
    manifest: Manifest,
    objects: Iterable[ObjectRef],
    check: Callable[[Store, ObjectRef], ObjectCheck],
    *,
    progress: ProgressFn | None,
    hint: str,
) -> None:
    objs = list(objects)
    with contextlib.ExitStack() as stack:
        workers = store.capabilities.parallel_reads
        if workers > 1:  # a remote store: status on a local one starts no thread pool
            from concurrent.futures import ThreadPoolExecutor

            pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers))
            results: Iterator[ObjectCheck] = pool.map(lambda o: check(store, o), objs)
        else:  # a local disk: no thread to start and wait for
            results = (check(store, o) for o in objs)
        # Results come back in order, so the first bad object is the one named.
        for i, result in enumerate(results):
            if progress is not None:
                progress("verify", i, len(objs))
            if result.problem is not None:
                raise object_error(manifest, result, hint=hint)
    if progress is not None:
        progress("verify", len(objs), len(objs))


def fetch_verified(
    store: Store,
    manifest: Manifest,
    objects: Iterable[ObjectRef],
    *,
    progress: ProgressFn | None = None,
) -> None:
    """Make ``objects`` readable through ``store.local_copy``, each checked against its hash:
    hashed in place on a store without a cache, else downloaded into the object cache and
    verified as they arrive. Raises IntegrityError naming the first bad one."""
    if store.cache is None:
        verify_objects(store, manifest, objects, progress=progress)
    else:
        store.cache.fetch(store, objects, snapshot_id=manifest.snapshot_id, progress=progress)
