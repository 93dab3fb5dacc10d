"""Checking a snapshot's objects against the sizes and xxh3-128 hashes its manifest records.

:func:`object_problem` checks one object and says what is wrong (``verify`` reports it);
:func:`verify_objects` checks several and raises on the first bad one (restore, resume and
the fallback search use it); :func:`fetch_verified` also makes them local (the object cache
of a remote store). Remote objects are hashed in parallel (network bound).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from navsnap.errors import IntegrityError
from navsnap.manifest import Manifest, ObjectRef
from navsnap.store import Store

__all__ = ["ObjectCheck", "check_object", "fetch_verified", "verify_objects"]

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


def verify_objects(
    store: Store,
    manifest: Manifest,
    objects: Iterable[ObjectRef],
    *,
    progress: ProgressFn | None = None,
) -> None:
    """Check size and xxh3-128 of each object; raise IntegrityError naming the first bad one."""
    objs = list(objects)
    with contextlib.ExitStack() as stack:
        workers = store.capabilities.parallel_reads
        if workers > 1:  # a remote store: status on a local one starts no thread pool
            from concurrent.futures import ThreadPoolExecutor

            pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers))
            results: Iterator[ObjectCheck] = pool.map(lambda o: check_object(store, o), objs)
        else:  # a local disk: no thread to start and wait for
            results = (check_object(store, o) for o in objs)
        # Results come back in order, so the first bad object is the one named.
        for i, result in enumerate(results):
            if progress is not None:
                progress("verify", i, len(objs))
            if result.problem is not None:
                obj = result.obj
                what = "missing" if result.problem == "missing" else f"corrupt ({result.detail})"
                raise IntegrityError(
                    f"object {obj.key} of snapshot {manifest.snapshot_id} is {what}",
                    path=obj.key,
                    snapshot_id=manifest.snapshot_id,
                    hint="restore another snapshot; 'navsnap verify --all' lists the intact ones",
                )
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
