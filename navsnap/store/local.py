"""A store in a local directory.

Writes go to ``tmp/`` inside the store (same filesystem), are fsynced and then renamed or
hard-linked into place, and the directory is fsynced: a crash leaves either nothing or the
whole file at the key. A create-only write links (``os.link`` fails when the key exists), so
two writers cannot both create a manifest.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from navsnap.errors import IntegrityError
from navsnap.fsutil import fsync_dir, fsync_file, pid_alive
from navsnap.hashing import hash_file
from navsnap.store import layout
from navsnap.store.backend import Backend, Capabilities, ObjectInfo

__all__ = ["LocalBackend"]


class LocalBackend(Backend):
    """Keys are files below ``root`` (created on the first write)."""

    capabilities = Capabilities(local_paths=True, atomic_rename=True, conditional_create=True)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = str(self.root)

    def __repr__(self) -> str:
        return f"LocalBackend({self.url!r})"

    def local_path(self, key: str) -> Path:
        path = PurePosixPath(key)
        if path.is_absolute() or ".." in path.parts or "\\" in key:
            raise ValueError(f"{key!r} is not a key inside the store")
        return self.root / path

    def full_url(self, key: str) -> str:
        """The absolute path; an object's is checked like every read (DuckDB opens it)."""
        if layout.object_digest(key) is not None:
            with contextlib.suppress(FileNotFoundError):
                return str(self.regular_file(key))
        return str(self.local_path(key))

    def regular_file(self, key: str) -> Path:
        """The file of ``key``, checked before it is opened: a regular file (a FIFO or a
        device would hang or feed a reader) inside the store root once symlinks are resolved.
        FileNotFoundError when absent; IntegrityError naming ``key`` otherwise."""
        path = self.local_path(key)
        st = path.stat()  # follows symlinks; FileNotFoundError when absent or dangling
        if not stat.S_ISREG(st.st_mode):
            raise IntegrityError(
                f"{key} in {self.url!r} is not a regular file; refusing to open it",
                path=key,
                hint="something replaced a store file by a FIFO, device or directory",
            )
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise IntegrityError(
                f"{key} in {self.url!r} is a symlink leading outside the store; refusing to "
                "open it",
                path=key,
                hint="store files must be files inside the store",
            )
        return path

    # ------------------------------------------------------------------ reading

    def read_bytes(self, key: str) -> bytes:
        return self.regular_file(key).read_bytes()

    def download(self, key: str, dest: Path) -> int:
        shutil.copyfile(self.regular_file(key), dest)
        return dest.stat().st_size

    def open_input(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        return self.regular_file(key).open("rb")

    def hash_object(self, key: str) -> tuple[str, int]:
        return hash_file(self.regular_file(key))

    def info(self, key: str) -> ObjectInfo:
        st = self.local_path(key).stat()
        return ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime)

    def exists(self, key: str) -> bool:
        return self.local_path(key).is_file()

    def list_files(self, prefix: str) -> list[ObjectInfo]:
        base = self.local_path(prefix)
        out: list[ObjectInfo] = []
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                p = Path(dirpath) / name
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                key = p.relative_to(self.root).as_posix()
                out.append(ObjectInfo(key=key, size=st.st_size, mtime=st.st_mtime))
        return sorted(out, key=lambda o: o.key)

    def top_level_names(self) -> list[str]:
        try:
            return sorted(entry.name for entry in self.root.iterdir())
        except FileNotFoundError:
            return []

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        yield self.regular_file(key)

    # ------------------------------------------------------------------ writing

    def _temp_file(self) -> Path:
        tmp = self.local_path(layout.temp_key("part"))
        tmp.parent.mkdir(parents=True, exist_ok=True)
        return tmp

    def _make_parent(self, dest: Path, *, durable: bool) -> None:
        """Create ``dest``'s folder (and missing ones above it), with ``durable`` each durable
        in its parent: a file renamed into a new folder is lost in a crash unless the
        folder's own entry is."""
        missing: list[Path] = []
        folder = dest.parent
        while not folder.is_dir() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        if not missing:
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing) if durable else ():
            fsync_dir(created.parent)

    def _place(
        self, tmp: Path, dest: Path, *, overwrite: bool, durable: bool, new_folders: bool
    ) -> None:
        """Rename (or, create-only, hard-link) ``tmp`` to ``dest``; with ``durable``, fsync
        the folder so the new entry survives a crash; with ``new_folders``, make the folders
        this creates durable (a deferred entry needs them before :meth:`sync`)."""
        self._make_parent(dest, durable=new_folders)
        if overwrite:
            os.replace(tmp, dest)
        else:
            os.link(tmp, dest)  # FileExistsError when dest exists: never a silent overwrite
        if durable:
            fsync_dir(dest.parent)

    def write_bytes(self, key: str, data: bytes, *, overwrite: bool, durable: bool = True) -> None:
        dest = self.local_path(key)
        if not overwrite and dest.exists():
            raise FileExistsError(errno.EEXIST, "exists", key)
        tmp = self._temp_file()
        try:
            with tmp.open("wb") as fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            self._place(tmp, dest, overwrite=overwrite, durable=durable, new_folders=durable)
        finally:
            tmp.unlink(missing_ok=True)

    def put_file(
        self, src: Path, key: str, *, overwrite: bool, move: bool, durable: bool = True
    ) -> None:
        # The bytes are fsynced even when the entry's durability is deferred: a crash must
        # never leave an object of the right name and size holding other bytes (a later
        # checkpoint would take it as already stored).
        dest = self.local_path(key)
        if not overwrite and dest.exists():
            raise FileExistsError(errno.EEXIST, "exists", key)
        if move and src.parent.resolve().is_relative_to(self.root.resolve()):
            # Staged inside the store (temp_dir): the file itself is renamed into place.
            fsync_file(src)
            self._place(src, dest, overwrite=overwrite, durable=durable, new_folders=True)
            return
        tmp = self._temp_file()
        try:
            shutil.copyfile(src, tmp)
            fsync_file(tmp)
            self._place(tmp, dest, overwrite=overwrite, durable=durable, new_folders=True)
        finally:
            tmp.unlink(missing_ok=True)

    def sync(self, keys: Iterable[str]) -> None:
        """fsync each folder holding one of ``keys`` once."""
        for folder in sorted({self.local_path(k).parent for k in keys}):
            fsync_dir(folder)

    def delete(self, key: str) -> None:
        self.local_path(key).unlink()

    def temp_dir(self) -> Path:
        base = self.local_path(layout.TMP)
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{layout.temp_name('stage')}-", dir=base))

    def clean_temp(self, *, older_than: float = 0.0) -> list[str]:
        base = self.local_path(layout.TMP)
        if not base.exists():
            return []
        removed: list[str] = []
        cutoff = time.time() - older_than
        for entry in sorted(base.iterdir()):
            try:
                if entry.stat().st_mtime > cutoff:
                    continue
                pid = layout.temp_owner_pid(entry.name)
                if pid is not None and (pid == os.getpid() or pid_alive(pid)):
                    continue  # a live writer's
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink()
                removed.append(entry.name)
            except FileNotFoundError:
                continue
        return removed
