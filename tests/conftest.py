"""Shared fixtures. Tests build real DuckDB files and real stores under tmp_path."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

TESTS = Path(__file__).resolve().parent
#: The test harnesses (pipelines, the S3 server, dbt's table reader): imported by their module
#: names, here and in every process a test starts (:func:`pythonpath`). The one place that
#: puts them on the import path.
SUPPORT = TESTS / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

from click.testing import CliRunner  # noqa: E402

from navsnap.catalog import TableInfo, fingerprints  # noqa: E402
from navsnap.cli import main  # noqa: E402
from navsnap.config import Config, load_config  # noqa: E402
from navsnap.manifest import FINGERPRINT_VERSION, Fingerprint, PartitionKey  # noqa: E402

TOY_STEP = "toy_pipeline:step"

# The core suite (``-m core``): what CI runs again under every older DuckDB release navsnap
# supports (.ci/run). The whole suite runs under the newest.
CORE_FILES = frozenset(
    {
        "test_snapshot.py",
        "test_restore.py",
        "test_resume.py",
        "test_verify.py",
        "test_fingerprint.py",
        "test_lean.py",
        "test_hot.py",
        "test_restore_work.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in CORE_FILES:
            item.add_marker(pytest.mark.core)


def count_fingerprints(
    monkeypatch: pytest.MonkeyPatch, *, whole_tables: bool = False
) -> Counter[str]:
    """Count fingerprints of live tables by table (every plan and every check goes through
    ``navsnap.compare.fingerprints``); ``whole_tables``: only those of whole tables (a
    rewritten partition's check reads only it, through ``source``)."""
    import navsnap.compare

    calls: Counter[str] = Counter()
    real = fingerprints  # what navsnap.compare.fingerprints is until patched below

    def counting(
        con: duckdb.DuckDBPyConnection,
        table: TableInfo,
        *,
        source: str | None = None,
        scheme: int = FINGERPRINT_VERSION,
    ) -> dict[PartitionKey, Fingerprint]:
        if source is None or not whole_tables:
            calls[table.ref] += 1
        return real(con, table, source=source, scheme=scheme)

    monkeypatch.setattr(navsnap.compare, "fingerprints", counting)
    return calls


def database_names(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The databases attached to ``con``'s DuckDB instance."""
    rows = con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    return {str(r[0]) for r in rows}


def scratch_databases() -> set[str]:
    """The databases the process's scratch DuckDB (navsnap.scratch) has attached."""
    from navsnap import scratch

    cur = scratch.cursor()
    try:
        return database_names(cur)
    finally:
        cur.close()


def table_fingerprints(db: Path | str) -> dict[str, tuple[int, str]]:
    """Order-independent fingerprint of every table: {schema.table: (rows, sum of hashes)}."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for schema, name in con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE NOT internal ORDER BY 1, 2"
        ).fetchall():
            ref = f'"{schema}"."{name}"'
            cols = con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
                [schema, name],
            ).fetchall()
            taken = {str(c[0]).casefold() for c in cols}
            alias = "t"
            while alias in taken:  # a column named t would shadow the row alias
                alias += "_"
            row = con.execute(
                f'SELECT count(*), coalesce(sum(hash("{alias}")::HUGEINT), 0)::VARCHAR '
                f'FROM {ref} AS "{alias}"'
            ).fetchone()
            assert row is not None
            n, h = row
            out[f"{schema}.{name}"] = (int(n), str(h))
        return out
    finally:
        con.close()


#: Environment variables the CLI reads; a developer's own settings must not leak into tests.
CLI_ENV = ("NAVSNAP_STORE", "NAVSNAP_DB", "NAVSNAP_CONFIG")


@pytest.fixture(autouse=True)
def _no_cli_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLI_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def toy_config() -> Config:
    """Config whose step is the small test pipeline in tests/support/toy_pipeline.py."""
    return load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)


@pytest.fixture
def sim_config() -> Callable[..., Config]:
    """Config for the built-in simulation at a small size."""

    def make(employees: int = 500, **overrides: Any) -> Config:
        return load_config(
            overrides={"simulation.employees": employees, **overrides}, search_cwd=False
        )

    return make


# This process's PYTHONPATH made absolute now, before any test changes directory: the core
# suite runs under another DuckDB by putting that release's folder there (.ci/run).
_INHERITED = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def pythonpath(*first: Path | str) -> str:
    """PYTHONPATH for a subprocess: ``first``, the harnesses (:data:`SUPPORT`), then this
    process's own entries, so that a subprocess finds a step such as ``toy_pipeline:step``
    and imports the same DuckDB as the test."""
    return os.pathsep.join([*(str(p) for p in first), str(SUPPORT), *_INHERITED])


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m navsnap`` in a subprocess (so kill and exit codes are real)."""
    full_env = {**os.environ, "PYTHONPATH": pythonpath(TESTS), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "navsnap", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


#: A fork server that has imported the CLI once: :func:`fork_cli`'s processes start from it.
_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["conftest", "toy_pipeline"])


def _start_fork_server() -> None:
    """Start the fork server (once) with the tests and harnesses importable. Python 3.11's
    fork server does not take this process's ``sys.path``, so without ``PYTHONPATH`` its
    preload of ``conftest`` fails silently and every child imports navsnap, DuckDB and
    pyarrow itself (~0.5 s a kill instead of milliseconds)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = pythonpath(TESTS)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


def _cli_child(args: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """In the forked process: ``navsnap ARGS`` in ``cwd`` with exactly ``env``, stdout and
    stderr (file descriptors 1 and 2) into the files ``out`` and ``err``; exit with the
    CLI's code (a fault point's SIGKILL ends it first)."""
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def fork_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``run_cli`` for kill tests: a real process (a fault point's SIGKILL kills it, not the
    test), forked from a server that imported navsnap once, so it starts in milliseconds
    instead of paying interpreter start and imports. Same result shape as ``run_cli``."""
    full_env = {**os.environ, "PYTHONPATH": pythonpath(TESTS), **(env or {})}
    _start_fork_server()
    with tempfile.TemporaryDirectory(prefix="navsnap-fork-") as tmp:
        out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        proc = _FORKS.Process(target=_cli_child, args=(list(args), str(cwd), full_env, out, err))
        proc.start()
        proc.join(timeout)
        if proc.exitcode is None:
            proc.kill()
            proc.join()
            raise subprocess.TimeoutExpired(["navsnap", *args], timeout)
        stdout, stderr = Path(out).read_text(), Path(err).read_text()
    return subprocess.CompletedProcess(["navsnap", *args], proc.exitcode, stdout, stderr)


def invoke(*args: str) -> tuple[int, str, str]:
    """Run the CLI entry point in-process: exit codes mapped exactly as for the user."""
    with CliRunner().isolation() as (out, err, _mixed):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, out.getvalue().decode(), err.getvalue().decode()


def invoke_at(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``run_cli`` without the process: :func:`invoke` in ``cwd`` with ``env`` set for the
    call (both restored after), the result shaped like ``run_cli``'s. For every test where a
    real process is not the point (it costs ~0.5 s of interpreter start and imports)."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    try:
        os.environ.update(env or {})
        os.chdir(cwd)
        code, out, err = invoke(*args)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["navsnap", *args], code, out, err)


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` with its bytes (to prove nothing changed)."""
    if root.is_file():
        return {root.name: root.read_bytes()}
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(".navsnap.lock")
    }


@pytest.fixture
def xfs_dir(tmp_path: Path) -> Iterator[Path]:
    """A loop-mounted XFS image with reflink (the real clone path, not a fake), where this
    process may make one (root, mkfs.xfs, a loop device); skipped with the reason elsewhere."""
    if os.geteuid() != 0:
        pytest.skip("mounting a loop XFS image needs root")
    if shutil.which("mkfs.xfs") is None:
        pytest.skip("mkfs.xfs not installed (apt-get install xfsprogs)")
    image = tmp_path / "xfs.img"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with image.open("wb") as fh:
        fh.truncate(512 << 20)  # sparse
    mk = subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], capture_output=True)
    if mk.returncode != 0:
        pytest.skip(f"mkfs.xfs failed: {mk.stderr.decode().strip()}")
    mount = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True)
    if mount.returncode != 0:
        pytest.skip(f"loop mount not allowed here: {mount.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
