"""The backend conformance suite: one storage contract, run against every backend (local
disk, memory:// from a URL, a ready fsspec filesystem instance, and a cached backend here;
S3 through a real S3 API server in test_s3.py). A backend passes when it behaves exactly
like local disk. A new backend adds a ``StoreContract`` subclass."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import fsspec
import pytest

from navsnap.errors import FormatVersionError, SnapshotNotFound, StoreError
from navsnap.hashing import hash_bytes
from navsnap.store import (
    CachedBackend,
    LocalBackend,
    ObjectCache,
    RemoteBackend,
    Store,
    layout,
    open_store,
)
from navsnap.store.layout import MARKER


def object_key(data: bytes, ext: str = "parquet") -> str:
    return layout.object_key(hash_bytes(data), ext)


def publish(store: Store, tmp_path: Path, data: bytes) -> str:
    key = object_key(data)
    src = tmp_path / f"src-{uuid.uuid4().hex}"
    src.write_bytes(data)
    assert store.publish_file(src, key) is True
    return key


class StoreContract:
    """Every backend must pass these. Subclasses provide ``make_store``."""

    def make_store(self, tmp_path: Path) -> Store:
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
        monkeypatch.setenv("NAVSNAP_CACHE_DIR", str(tmp_path / "cache"))
        return self.make_store(tmp_path)

    def test_write_read_exists_info(self, store: Store) -> None:
        assert not store.exists("manifests/a.json")
        store.write_bytes_atomic("manifests/a.json", b'{"x": 1}')
        assert store.exists("manifests/a.json")
        assert store.read_bytes("manifests/a.json") == b'{"x": 1}'
        assert store.info("manifests/a.json").size == 8

    def test_write_if_absent_refuses_existing_key(self, store: Store) -> None:
        store.write_bytes_atomic("manifests/a.json", b"first")
        with pytest.raises(FileExistsError):
            store.write_bytes_atomic("manifests/a.json", b"second")
        assert store.read_bytes("manifests/a.json") == b"first"
        store.write_bytes_atomic("manifests/a.json", b"third", overwrite=True)
        assert store.read_bytes("manifests/a.json") == b"third"

    def test_publish_file_once(self, store: Store, tmp_path: Path) -> None:
        data = b"parquet bytes " * 100
        key = object_key(data)
        src = tmp_path / "staged.parquet"
        src.write_bytes(data)
        assert store.publish_file(src, key) is True
        assert not src.exists(), "move=True removes the staged file"
        assert store.read_bytes(key) == data
        again = tmp_path / "again.parquet"
        again.write_bytes(data)
        assert store.publish_file(again, key, move=False) is False
        assert again.exists(), "move=False keeps the source"

    def test_read_missing_is_file_not_found(self, store: Store) -> None:
        with pytest.raises(FileNotFoundError):
            store.read_bytes("manifests/nope.json")

    def test_listing_sees_writes_and_deletes_at_once(self, store: Store) -> None:
        assert store.list_files("manifests") == []
        for i in range(3):
            store.write_bytes_atomic(f"manifests/s{i}.json", b"{}")
        assert [o.key for o in store.list_files("manifests")] == [
            "manifests/s0.json",
            "manifests/s1.json",
            "manifests/s2.json",
        ]
        store.delete("manifests/s1.json")
        assert not store.exists("manifests/s1.json")
        assert [o.key for o in store.list_files("manifests")] == [
            "manifests/s0.json",
            "manifests/s2.json",
        ]
        store.write_bytes_atomic("manifests/s3.json", b"{}")
        assert len(store.list_files("manifests")) == 3
        assert all(o.size == 2 for o in store.list_files("manifests"))

    def test_hash_object_and_local_copy(self, store: Store, tmp_path: Path) -> None:
        data = bytes(range(256)) * 1000
        key = object_key(data)
        src = tmp_path / "o.parquet"
        src.write_bytes(data)
        store.publish_file(src, key)
        assert store.hash_object(key) == (hash_bytes(data), len(data))
        with store.local_copy(key) as path:
            assert path.read_bytes() == data

    def test_marker_created_and_checked(self, store: Store) -> None:
        with pytest.raises(SnapshotNotFound):
            store.check_readable()
        store.ensure_writable()
        assert json.loads(store.read_bytes(MARKER))["format"] == "navsnap-store"
        store.check_readable()
        store.ensure_writable()  # idempotent

    def test_newer_format_version_refused(self, store: Store) -> None:
        store.write_bytes_atomic(MARKER, b'{"format": "navsnap-store", "version": 99}')
        with pytest.raises(FormatVersionError):
            store.check_readable()
        with pytest.raises(FormatVersionError):
            store.ensure_writable()

    def test_non_store_directory_refused(self, store: Store) -> None:
        store.write_bytes_atomic("holiday.jpg", b"not ours")
        with pytest.raises(StoreError, match="not a navsnap store"):
            store.ensure_writable()
        with pytest.raises(StoreError, match="not a navsnap store"):
            store.check_readable()
        assert not store.exists(MARKER)

    def test_bad_marker_refused(self, store: Store) -> None:
        store.write_bytes_atomic(MARKER, b"{broken")
        with pytest.raises(StoreError, match="not valid JSON"):
            store.check_readable()

    @pytest.mark.parametrize("version", [b'"1"', b"1e999", b"true", b"0", b"null"])
    def test_a_marker_version_no_navsnap_writes_is_damage_not_a_newer_format(
        self, store: Store, version: bytes
    ) -> None:
        """Exit 6 "the store is damaged", not exit 9 "upgrade navsnap": no upgrade reads it."""
        store.write_bytes_atomic(
            MARKER, b'{"format": "navsnap-store", "version": ' + version + b"}"
        )
        for check in (store.check_readable, store.ensure_writable):
            with pytest.raises(StoreError, match="no valid format version") as err:
                check()
            assert not isinstance(err.value, FormatVersionError)

    def test_missing_keys_raise_the_builtin(self, store: Store, tmp_path: Path) -> None:
        key = object_key(b"never written")
        assert not store.exists(key)
        with pytest.raises(FileNotFoundError):
            store.info(key)
        with pytest.raises(FileNotFoundError):
            store.hash_object(key)
        with pytest.raises(FileNotFoundError):
            store.download(key, tmp_path / "dest")
        assert store.list_files("nothing-here") == []

    def test_publish_repairs_an_object_of_another_size(self, store: Store, tmp_path: Path) -> None:
        data = b"the good bytes " * 50
        key = object_key(data)
        store.write_bytes_atomic(key, b"truncated")  # damaged: same name, other size
        src = tmp_path / "good"
        src.write_bytes(data)
        assert store.publish_file(src, key) is True
        assert store.read_bytes(key) == data

    def test_download_copies_the_bytes(self, store: Store, tmp_path: Path) -> None:
        data = b"abc" * 1000
        key = publish(store, tmp_path, data)
        dest = tmp_path / "copy"
        assert store.download(key, dest) == len(data)
        assert dest.read_bytes() == data

    def test_delete_then_listing_and_reads_agree(self, store: Store, tmp_path: Path) -> None:
        key = publish(store, tmp_path, b"short-lived")
        assert [o.key for o in store.list_files(layout.OBJECTS)] == [key]
        store.delete(key)
        assert store.list_files(layout.OBJECTS) == []
        with pytest.raises(FileNotFoundError):
            store.read_bytes(key)

    def test_capabilities_hold(self, store: Store, tmp_path: Path) -> None:
        caps = store.capabilities
        assert caps.parallel_reads >= 1
        key = publish(store, tmp_path, b"where am I")
        if caps.local_paths:
            assert store.local_path(key).read_bytes() == b"where am I"
            assert store.duckdb_filesystem() is None
            assert Path(store.full_url(key)).read_bytes() == b"where am I"
        else:
            with pytest.raises(NotImplementedError):
                store.local_path(key)
            fs = store.duckdb_filesystem()
            assert fs is not None
            assert fs.cat_file(store.full_url(key)) == b"where am I"
        staging = store.temp_dir()
        try:
            assert staging.is_dir() and not any(staging.iterdir())
            if caps.atomic_rename:  # staged inside the store: publishing is a rename
                assert store.full_url(layout.TMP) in str(staging)
        finally:
            staging.rmdir()
        if caps.conditional_create:
            store.write_bytes_atomic("race/x", b"1")
            with pytest.raises(FileExistsError):
                store.write_bytes_atomic("race/x", b"2")

    def test_manifests_tags_and_state(self, store: Store) -> None:
        store.ensure_writable()
        assert store.manifest_ids() == [] and store.tags() == {}
        store.write_bytes_atomic(layout.manifest_key("r1-2025"), b"{broken")
        assert store.manifest_ids() == ["r1-2025"] and store.has_manifest("r1-2025")
        good, broken = store.read_manifests()
        assert good == [] and [b.snapshot_id for b in broken] == ["r1-2025"]
        store.write_tag("keep-me", "r1-2025")
        assert store.tags() == {"keep-me": "r1-2025"} and store.has_tag_file("keep-me")
        store.write_bytes_atomic(layout.tag_key("bad"), b"not json")
        assert store.tags() == {"keep-me": "r1-2025"}
        with pytest.raises(StoreError, match="damaged"):
            store.tags(strict=True)
        store.delete_tag("bad")
        store.delete_tag("keep-me")
        assert store.tags(strict=True) == {}
        assert store.read_state("verified") is None
        store.write_state("verified", {"snapshots": {"r1-2025": 1}})
        assert store.read_state("verified") == {"snapshots": {"r1-2025": 1}}
        store.write_bytes_atomic(layout.state_key("verified"), b"{", overwrite=True)
        assert store.read_state("verified") is None  # advisory: damaged reads as absent
        store.delete_manifest("r1-2025")
        assert store.manifest_ids() == []

    def test_unreferenced_objects_split_by_grace(self, store: Store, tmp_path: Path) -> None:
        kept = publish(store, tmp_path, b"referenced")
        stray = publish(store, tmp_path, b"stray")
        mtime = store.info(stray).mtime
        assert mtime is not None
        old = store.unreferenced_objects({kept}, grace=60.0, now=mtime + 3600)
        assert [o.key for o in old.collectable] == [stray] and old.young == ()
        young = store.unreferenced_objects({kept}, grace=60.0, now=mtime + 1)
        assert young.collectable == () and [o.key for o in young.young] == [stray]


class TestLocalStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return open_store(tmp_path / "store")


class TestMemoryStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return open_store(f"memory://navsnap-test-{uuid.uuid4().hex}")


class TestReadyFilesystemStore(StoreContract):
    """A store on an fsspec filesystem instance the caller built (its own options)."""

    def make_store(self, tmp_path: Path) -> Store:
        fs = fsspec.filesystem("memory")
        return open_store(RemoteBackend(fs, f"/navsnap-test-{uuid.uuid4().hex}"))


class TestCachedStore(StoreContract):
    """A backend wrapped with the object cache behaves like the backend."""

    def make_store(self, tmp_path: Path) -> Store:
        inner = RemoteBackend.from_url(f"memory://navsnap-test-{uuid.uuid4().hex}")
        return open_store(CachedBackend(inner, ObjectCache(tmp_path / "objcache")))


# ------------------------------------------------------------------ store-independent


def test_local_store_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        open_store(f)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown store scheme"):
        open_store("ftp2://somewhere/x")


@pytest.mark.parametrize(
    ("url", "hint"), [("memory://", "memory://NAME"), ("s3://", "s3://bucket/prefix")]
)
def test_a_url_naming_no_folder_is_refused_with_its_own_schemes_example(
    url: str, hint: str
) -> None:
    with pytest.raises(StoreError, match="names no bucket or folder") as err:
        open_store(url)
    assert err.value.hint == f"use {hint}"


def test_credentials_in_url_are_redacted() -> None:
    store = open_store("memory://user:secret@bucketname/prefix")
    assert "secret" not in store.url and "secret" not in repr(store)


def test_file_url_is_a_local_store(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path / 'st'}")
    assert store.capabilities.local_paths and store.cache is None


def test_remote_stores_read_objects_through_the_cache(tmp_path: Path) -> None:
    assert open_store(tmp_path / "local").cache is None
    assert open_store(f"memory://navsnap-test-{uuid.uuid4().hex}").cache is None
    cache = ObjectCache(tmp_path / "c")
    store = open_store("s3://some-bucket/prefix", cache=cache)
    assert store.cache is cache and store.capabilities.parallel_reads > 1


def test_cached_backend_downloads_each_object_once(tmp_path: Path) -> None:
    inner = RemoteBackend.from_url(f"memory://navsnap-test-{uuid.uuid4().hex}")
    cache = ObjectCache(tmp_path / "cache")
    store = open_store(CachedBackend(inner, cache))
    data = b"payload" * 100
    key = publish(store, tmp_path, data)
    with store.local_copy(key) as first:
        assert first.read_bytes() == data and first.is_relative_to(cache.root)
    with store.local_copy(key) as second:
        assert second == first
    assert cache.stats.downloaded == 1 and cache.stats.downloaded_bytes == len(data)
    store.write_bytes_atomic("notes/readme.txt", b"mutable")
    with store.local_copy("notes/readme.txt") as path:  # not an object: never cached
        assert path.read_bytes() == b"mutable" and not path.is_relative_to(cache.root)


def test_cache_rehashes_and_drops_a_corrupt_file(tmp_path: Path) -> None:
    store = open_store(f"memory://navsnap-test-{uuid.uuid4().hex}")
    data = b"payload" * 100
    key = publish(store, tmp_path, data)
    cache = ObjectCache(tmp_path / "cache")
    path = cache.get(store, key, size=len(data))
    assert path.read_bytes() == data
    assert cache.stats.downloaded == 1
    assert ObjectCache(tmp_path / "cache").lookup(key) == path  # a new process re-hashes: ok
    path.write_bytes(b"X" * len(data))  # same size, other bytes
    fresh = ObjectCache(tmp_path / "cache")
    assert fresh.lookup(key) is None and not path.exists()
    assert fresh.get(store, key).read_bytes() == data
    assert fresh.stats.downloaded == 1


class _RefusingBackend(LocalBackend):
    """A local backend whose reads and deletes fail as on a read-only, unreadable mount."""

    def read_bytes(self, key: str) -> bytes:
        raise PermissionError(13, "Permission denied", key)

    def delete(self, key: str) -> None:
        raise PermissionError(13, "Permission denied", key)


def test_a_backends_bare_os_errors_become_one_line_store_errors(tmp_path: Path) -> None:
    store = open_store(_RefusingBackend(tmp_path / "st"))
    with pytest.raises(StoreError, match="permission denied while reading"):
        store.read_bytes(layout.MARKER)
    with pytest.raises(StoreError, match="could not delete"):
        store.delete(layout.MARKER)
    with pytest.raises(StoreError, match="permission denied"):
        store.check_readable()
