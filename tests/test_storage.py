"""One storage contract, run against every backend (local disk and memory:// here; S3 in
test_s3.py). A backend passes when it behaves exactly like local disk."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from navsnap.cache import ObjectCache, object_hash_from_key
from navsnap.errors import FormatVersionError, SnapshotNotFound, StoreError
from navsnap.hashing import hash_bytes
from navsnap.storage import MARKER, Store, open_store


def object_key(data: bytes, ext: str = "parquet") -> str:
    h = hash_bytes(data)
    return f"objects/{h[:2]}/{h}.{ext}"


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


class TestLocalStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return open_store(tmp_path / "store")


class TestMemoryStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return open_store(f"memory://navsnap-test-{uuid.uuid4().hex}")


# ------------------------------------------------------------------ store-independent


def test_local_store_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="is a file"):
        open_store(f)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(StoreError, match="unknown store scheme"):
        open_store("ftp2://somewhere/x")


def test_credentials_in_url_are_redacted() -> None:
    store = open_store("memory://user:secret@bucketname/prefix")
    assert "secret" not in store.url and "secret" not in repr(store)


def test_object_hash_from_key() -> None:
    h = "0" * 30 + "ab"
    assert object_hash_from_key(f"objects/{h[:2]}/{h}.parquet") == h
    assert object_hash_from_key("manifests/x.json") is None
    assert object_hash_from_key("objects/ab/not-a-hash.parquet") is None


def test_cache_rehashes_and_drops_a_corrupt_file(tmp_path: Path) -> None:
    store = open_store(f"memory://navsnap-test-{uuid.uuid4().hex}")
    data = b"payload" * 100
    key = object_key(data)
    src = tmp_path / "o"
    src.write_bytes(data)
    store.publish_file(src, key)
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
