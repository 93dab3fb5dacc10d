"""``--db`` (and ``--to``, ``attach --out``) are checked before use (issue 13): a regular file
or absent. Devices, FIFOs and directories are refused in one line (exit 4, DatabaseError, as
docs/exit-codes.md documents for an unusable database path) with nothing moved and nothing
opened; a symlink is resolved once, locked and restored by its real path, and stays a link."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke, run_cli, table_fingerprints

from navsnap.dbfile import checked_path
from navsnap.errors import DatabaseError
from navsnap.lock import db_lock

RUN = ("run", "--years", "2025-2026", "--step", TOY_STEP)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with snapshots of 2025-2026 in ``store/``."""
    root = tmp_path_factory.mktemp("db-path")
    code, _o, err = invoke(*RUN, "--db", str(root / "good.duckdb"), "--store", str(root / "store"))
    assert code == 0, err
    return root


@pytest.fixture
def work(prepared: Path, tmp_path: Path) -> Path:
    cwd = tmp_path / "w"
    shutil.copytree(prepared, cwd)
    return cwd


def special(where: Path, kind: str) -> Path:
    path = where / f"{kind}.duckdb"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        try:
            os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # like /dev/null
        except PermissionError:
            pytest.skip("cannot create a device node here")
    else:
        path.mkdir()
    return path


# {path} is the special file; every command is given --store.
COMMANDS = {
    "run-force-restart": ("run", "--years", "2025-2025", "--step", TOY_STEP, "--force-restart"),
    "run": ("run", "--years", "2025-2025", "--step", TOY_STEP),
    "restore": ("restore", "--year", "2025"),
    "restore-to": ("restore", "--year", "2025", "--db", "good.duckdb", "--to", "{path}"),
    "status": ("status", "--years", "2025-2025", "--step", TOY_STEP),
    "checkpoint": ("checkpoint", "--year", "2025"),
    "attach-out": ("attach", "{snap}", "--out", "{path}", "--force"),
}


def args_for(name: str, path: Path, snap: str) -> list[str]:
    argv = [a.replace("{path}", str(path)).replace("{snap}", snap) for a in COMMANDS[name]]
    if "{path}" not in COMMANDS[name] and "--db" not in argv:
        argv += ["--db", str(path)]
    return [*argv, "--store", "store"]


def one_line_refusal(code: int, err: str, what: str) -> None:
    assert code == 4, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "not a database file" in lines[0] and what in lines[0], err


def first_snapshot(cwd: Path) -> str:
    return sorted(p.stem for p in (cwd / "store" / "manifests").glob("*-2025.json"))[0]


@pytest.mark.parametrize("kind", ["device", "directory"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_special_files_are_refused_and_left_alone(
    work: Path, monkeypatch: pytest.MonkeyPatch, kind: str, command: str
) -> None:
    monkeypatch.chdir(work)
    path = special(work, kind)
    mode = os.lstat(path).st_mode
    before = sorted(p.name for p in work.iterdir())
    code, _o, err = invoke(*args_for(command, path, first_snapshot(work)))
    one_line_refusal(code, err, "a device" if kind == "device" else "a directory")
    assert os.lstat(path).st_mode == mode
    assert sorted(p.name for p in work.iterdir()) == before, "something was moved"


@pytest.mark.parametrize("command", ["run-force-restart", "restore", "restore-to", "status"])
def test_a_fifo_is_never_opened(work: Path, command: str) -> None:
    # A subprocess with a timeout: a FIFO opened for reading would hang the test.
    path = special(work, "fifo")
    before = sorted(p.name for p in work.iterdir())
    res = run_cli(*args_for(command, path, first_snapshot(work)), cwd=work, timeout=60)
    one_line_refusal(res.returncode, res.stderr, "a FIFO")
    assert stat.S_ISFIFO(os.lstat(path).st_mode)
    assert sorted(p.name for p in work.iterdir()) == before, "something was moved"


def test_dev_null_as_db_is_refused(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    for command in ("run-force-restart", "restore"):
        code, _o, err = invoke(*args_for(command, Path("/dev/null"), ""))
        one_line_refusal(code, err, "a device")
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_checked_path_resolves_a_symlink_once(tmp_path: Path) -> None:
    real = tmp_path / "data" / "real.duckdb"
    real.parent.mkdir()
    link = tmp_path / "sim.duckdb"
    link.symlink_to(real)
    assert checked_path(link) == real.resolve()  # dangling: the absent file it names
    real.write_bytes(b"")
    assert checked_path(link) == real.resolve()
    assert checked_path(real) == real
    os.mkfifo(tmp_path / "f")
    (tmp_path / "to-fifo").symlink_to(tmp_path / "f")
    with pytest.raises(DatabaseError, match="FIFO"):
        checked_path(tmp_path / "to-fifo")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    with pytest.raises(DatabaseError, match="cannot be examined"):
        checked_path(tmp_path / "loop")


def test_two_names_of_one_file_exclude_each_other(tmp_path: Path) -> None:
    real = tmp_path / "data" / "real.duckdb"
    real.parent.mkdir()
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    one.symlink_to(real)
    two.symlink_to(real)
    store = str(tmp_path / "store")
    code, _o, err = invoke(*RUN, "--db", str(one), "--store", store)
    assert code == 0, err
    with db_lock(checked_path(one), purpose="test"):
        code, _o, err = invoke(*RUN, "--resume", "--db", str(two), "--store", store)
        assert code == 11, err
        code, _o, err = invoke("restore", "--year", "2025", "--db", str(two), "--store", store)
        assert code == 11, err
    assert not (tmp_path / "two.duckdb.navsnap.lock").exists()


def test_a_symlinked_db_is_restored_and_restarted_by_its_real_path(tmp_path: Path) -> None:
    real = tmp_path / "data" / "real.duckdb"
    real.parent.mkdir()
    link = tmp_path / "sim.duckdb"
    link.symlink_to(real)
    store = str(tmp_path / "store")
    code, _o, err = invoke(*RUN, "--db", str(link), "--store", store)
    assert code == 0, err
    assert link.is_symlink() and real.is_file()
    want = table_fingerprints(real)

    # A full restore through the link (the file no longer opens) replaces the real file,
    # and the link stays a link; the old file is kept beside the real one.
    real.write_bytes(b"not a database")
    code, _o, err = invoke("restore", "--year", "2026", "--db", str(link), "--store", store)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert table_fingerprints(real) == want
    kept = [p.name for p in real.parent.iterdir() if ".before-restore-" in p.name]
    assert len(kept) == 1 and (real.parent / kept[0]).read_bytes() == b"not a database"

    # --force-restart moves the real file aside, not the link.
    code, _o, err = invoke(*RUN, "--force-restart", "--db", str(link), "--store", store)
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == str(real) and real.is_file()
    assert any(".before-force-restart" in p.name for p in real.parent.iterdir())
    assert not any(".before-" in p.name for p in tmp_path.iterdir())


def test_a_dangling_symlink_is_an_absent_database(tmp_path: Path) -> None:
    """Documented: a dangling link names the file to create; a run or restore creates it
    where the link points, and the link keeps pointing there."""
    real = tmp_path / "data" / "real.duckdb"
    real.parent.mkdir()
    link = tmp_path / "sim.duckdb"
    link.symlink_to(real)
    store = str(tmp_path / "store")
    code, _o, err = invoke(*RUN, "--db", str(link), "--store", store)
    assert code == 0, err
    real.unlink()
    code, _o, err = invoke("restore", "--year", "2025", "--db", str(link), "--store", store)
    assert code == 0, err
    assert link.is_symlink() and real.is_file()


def _bytes_of(where: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(where)): p.read_bytes() for p in sorted(where.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("restore", "--year", "2025", "--to", "good.duckdb"), "is the database itself"),
        (("restore", "--year", "2025", "--to", "./good.duckdb"), "is the database itself"),
        (("restore", "--year", "2025", "--to", "link.duckdb"), "is the database itself"),
        (("restore", "--year", "2025", "--to", "hard.duckdb"), "is the database itself"),
        (("restore", "--year", "2025", "--to", "store/navsnap-store.json"), "inside the store"),
        (("restore", "--year", "2025", "--to", "store/objects/x.duckdb"), "inside the store"),
        (("attach", "latest", "--out", "store/navsnap-store.json", "--force"), "inside the store"),
        (("attach", "latest", "--out", "good.duckdb", "--force"), "is the database itself"),
    ],
)
def test_an_output_path_is_never_the_database_or_inside_the_store(
    work: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], says: str
) -> None:
    """``--to`` promises to leave the live database alone, and neither ``--to`` nor
    ``attach --out`` may move a file of the store aside (the store's marker, moved, leaves a
    store no command can read): refused in one line, exit 2, every file as it was."""
    monkeypatch.chdir(work)
    (work / "link.duckdb").symlink_to(work / "good.duckdb")
    os.link(work / "good.duckdb", work / "hard.duckdb")
    before = _bytes_of(work)
    code, _o, err = invoke(*args, "--db", "good.duckdb", "--store", "store")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and says in lines[0], err
    assert _bytes_of(work) == before
