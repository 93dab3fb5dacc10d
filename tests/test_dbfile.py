"""The database file and its .wal: one crash ordering for every move (restore's swap and
``run --force-restart``). After every single filesystem operation the database path holds
the old database (with or without its .wal), the new one, or (moving aside) nothing: never
a .wal without its file, which DuckDB would replay into the next database created there."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from navsnap import dbfile


def _db_with_wal(db: Path) -> None:
    """A database whose last commit (a view) is only in its .wal (the process died)."""
    duckdb.connect(str(db)).close()
    code = (
        "import duckdb, os, sys; c = duckdb.connect(sys.argv[1]);"
        " c.execute('SET checkpoint_threshold = \\'1GB\\'');"
        " c.execute('CREATE VIEW only_in_wal AS SELECT 42 AS x'); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=True)
    assert dbfile.wal_path(db).exists()


@pytest.fixture(params=["links", "renames"])
def watched(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Callable[[], None]], None]]:
    """Install a check run after every link, rename and unlink (with hard links working, or
    failing as on filesystems without them)."""
    checks: list[Callable[[], None]] = []
    real_link, real_replace, real_unlink = os.link, os.replace, pathlib.Path.unlink

    def after(fn: Callable[..., None]) -> Callable[..., None]:
        def wrapped(*args: object, **kwargs: object) -> None:
            fn(*args, **kwargs)
            for check in checks:
                check()

        return wrapped

    def no_links(*_args: object, **_kwargs: object) -> None:
        raise OSError("hard links not supported here")

    monkeypatch.setattr(os, "link", after(real_link if request.param == "links" else no_links))
    monkeypatch.setattr(os, "replace", after(real_replace))
    monkeypatch.setattr(pathlib.Path, "unlink", after(real_unlink))
    yield checks.append


def _no_stray_wal(db: Path) -> Callable[[], None]:
    def check() -> None:
        assert db.exists() or not dbfile.wal_path(db).exists(), "a .wal without its file"

    return check


def test_moving_aside_keeps_both_files_and_frees_the_path(
    tmp_path: Path, watched: Callable[[Callable[[], None]], None]
) -> None:
    db = tmp_path / "sim.duckdb"
    _db_with_wal(db)
    watched(_no_stray_wal(db))
    moved = dbfile.move_aside(db, "before-force-restart")
    assert not db.exists() and not dbfile.wal_path(db).exists()
    kept = Path(moved[0])
    assert kept.name.endswith(".before-force-restart") and moved[1] == str(kept) + ".wal"
    con = duckdb.connect(str(kept), read_only=True)
    try:  # the kept file replays its own .wal: the last commit is not lost
        assert con.execute("SELECT x FROM only_in_wal").fetchall() == [(42,)]
    finally:
        con.close()


def test_swapping_never_leaves_the_path_without_a_database(
    tmp_path: Path, watched: Callable[[Callable[[], None]], None]
) -> None:
    db = tmp_path / "sim.duckdb"
    _db_with_wal(db)
    new = dbfile.temp_beside(db, "restore")
    con = duckdb.connect(str(new))
    con.execute("CREATE TABLE restored AS SELECT 1 AS x")
    con.close()
    assert not dbfile.wal_path(new).exists()
    watched(_no_stray_wal(db))

    def always_a_file() -> None:
        assert db.exists(), "the database path has no file"

    watched(always_a_file)
    moved = dbfile.swap_into_place(new, db, reason="before-restore-r-2026")
    assert not new.exists() and not dbfile.wal_path(db).exists()
    assert [Path(p).name.rsplit(".", 1)[-1] for p in moved] == ["before-restore-r-2026", "wal"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT x FROM restored").fetchall() == [(1,)]
    finally:
        con.close()


def test_moving_a_missing_database_does_nothing(tmp_path: Path) -> None:
    assert dbfile.move_aside(tmp_path / "nope.duckdb", "before-force-restart") == ()
    assert list(tmp_path.iterdir()) == []


def test_temporary_files_of_dead_restores_are_found(tmp_path: Path) -> None:
    target = tmp_path / "sim.duckdb"
    mine = dbfile.temp_beside(target, "restore")
    mine.write_bytes(b"x")
    dead = tmp_path / f".sim.duckdb.navsnap-restore-{2**22 + 12345}.tmp"
    dead.write_bytes(b"x")
    Path(str(dead) + ".wal").write_bytes(b"x")
    assert sorted(dbfile.dead_temps(target, "restore")) == [dead, Path(str(dead) + ".wal")]
