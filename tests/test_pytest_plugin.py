"""The pytest plugin (entry point pytest11 ``navsnap``), exercised with pytester."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke_at

from navsnap import api
from navsnap.store import open_store

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def tagged_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local store with two snapshots; tag 'fixture-small' names the 2025 one (built once:
    the tests only read it)."""
    tmp_path = tmp_path_factory.mktemp("tagged")
    store = tmp_path / "snaps"
    res = invoke_at("run", "--years", "2025-2026", "--db", str(tmp_path / "sim.duckdb"),
                    "--store", str(store), "--step", TOY_STEP, cwd=tmp_path)  # fmt: skip
    assert res.returncode == 0, res.stderr
    first = api.list_snapshots(store)[0][0].snapshot_id
    body = json.dumps({"snapshot_id": first}).encode()
    open_store(store).write_bytes_atomic("tags/fixture-small.json", body)
    return store


def test_fixture_restores_once_and_copies_per_test(
    pytester: pytest.Pytester, tagged_store: Path
) -> None:
    pytester.makeini(f"[pytest]\nnavsnap_store = {tagged_store}\n")
    pytester.makepyfile(
        """
        import duckdb

        def rows(path):
            con = duckdb.connect(str(path))
            try:
                return con.execute("SELECT count(*) FROM yearly").fetchone()[0]
            finally:
                con.close()

        def test_first(navsnap_restore, navsnap_fixtures, tmp_path):
            db = navsnap_restore("fixture-small")
            assert db.parent == tmp_path and rows(db) == 200
            con = duckdb.connect(str(db))
            con.execute("DELETE FROM yearly")
            con.close()
            assert rows(db) == 0

        def test_second_gets_a_fresh_copy(navsnap_restore, navsnap_fixtures):
            assert rows(navsnap_restore("fixture-small")) == 200
            assert len(list(navsnap_fixtures.root.glob("*.duckdb"))) == 1
        """
    )
    result = pytester.runpytest("-q")
    result.assert_outcomes(passed=2)


def test_store_argument_and_missing_store(pytester: pytest.Pytester, tagged_store: Path) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        def test_explicit_store(navsnap_restore):
            assert navsnap_restore("fixture-small", store={str(tagged_store)!r}).exists()

        def test_no_store(navsnap_restore):
            navsnap_restore("fixture-small")
        """
    )
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=0, failed=1)
    result.stdout.fnmatch_lines(["*navsnap_restore needs a store*"])


def test_command_line_option(pytester: pytest.Pytester, tagged_store: Path) -> None:
    pytester.makepyfile(
        """
        def test_it(navsnap_restore):
            assert navsnap_restore("fixture-small").stat().st_size > 0
        """
    )
    result = pytester.runpytest("-q", f"--navsnap-store={tagged_store}")
    result.assert_outcomes(passed=1)


def test_ini_store_is_relative_to_the_ini_file(
    pytester: pytest.Pytester, tagged_store: Path
) -> None:
    """A relative ``navsnap_store`` in pytest.ini works when pytest starts in another folder."""
    project = pytester.mkdir("project")
    (project / "ci-snapshots").symlink_to(tagged_store)
    (project / "pytest.ini").write_text("[pytest]\nnavsnap_store = ci-snapshots\n")
    (project / "test_it.py").write_text(
        "def test_it(navsnap_restore):\n    assert navsnap_restore('fixture-small').exists()\n"
    )
    elsewhere = pytester.mkdir("elsewhere")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(elsewhere)
        result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", str(project))
    result.assert_outcomes(passed=1)
