"""navsnap.attached, the one home of ATTACH / USE / DETACH: the file is the current database
inside the block, and after it, whether the block succeeded or raised, nothing is left
attached and the file is closed (another DuckDB instance opens it read-write)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import database_names

from navsnap.attached import attach_file, attached, detach_file

pytestmark = pytest.mark.core


def _closed(path: Path) -> bool:
    """Whether another instance can open ``path`` read-write (DuckDB locks an open file)."""
    try:
        duckdb.connect(str(path)).close()
    except duckdb.Error:
        return False
    return True


@pytest.mark.parametrize("alias", ["plain", 'a "quoted" one', "semi; DROP TABLE x; --"])
def test_the_block_works_in_the_file_and_leaves_nothing_attached(
    tmp_path: Path, alias: str
) -> None:
    path = tmp_path / "it's a file.duckdb"
    con = duckdb.connect()
    before = database_names(con)
    with attached(con, path, alias=alias) as quoted:
        assert con.execute("SELECT current_database()").fetchone() == (alias,)
        con.execute("CREATE TABLE t AS SELECT 42 AS x")
        con.execute(f"CHECKPOINT {quoted}")
    assert database_names(con) == before
    assert con.execute("SELECT current_database()").fetchone() == ("memory",)
    con.close()
    assert _closed(path)
    check = duckdb.connect(str(path), read_only=True)
    assert check.execute("SELECT x FROM t").fetchall() == [(42,)]
    check.close()


def test_a_block_that_raises_keeps_its_error_and_detaches(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    con = duckdb.connect()
    before = database_names(con)
    with pytest.raises(ValueError, match="the block's own"), attached(con, path, alias="x"):
        raise ValueError("the block's own")
    assert database_names(con) == before
    assert _closed(path)
    con.close()


def test_a_file_that_does_not_open_raises_and_leaves_nothing_attached(tmp_path: Path) -> None:
    path = tmp_path / "garbage.duckdb"
    path.write_bytes(b"not a database" * 1000)
    con = duckdb.connect()
    before = database_names(con)
    with pytest.raises(duckdb.Error):
        attach_file(con, path, alias="g")
    assert database_names(con) == before
    con.close()


def test_strict_detach_reports_what_quiet_detach_ignores(tmp_path: Path) -> None:
    con = duckdb.connect()
    detach_file(con, '"never_attached"', strict=False)  # nothing raised
    with pytest.raises(duckdb.Error):
        detach_file(con, '"never_attached"')
    con.close()
