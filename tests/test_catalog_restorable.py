"""Catalog objects whose restore needs more than each object's DDL run in a fixed order.

Macros with typed parameters and macros with overloads (one ``duckdb_functions()`` row per
overload), sequences that have handed out values (``currval`` and ``last_value``) or all of
them (at MAXVALUE or MINVALUE, NO CYCLE), and tables whose DEFAULT or CHECK calls a macro
that may itself read a table or a view. Each database is checkpointed and restored, and the
restored file is compared with the original through DuckDB's own catalog and by calling
what it holds, each opened afresh, as its user would open it.

Tiny databases, in-process: the core suite runs this file under every supported DuckDB.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

import navsnap
from navsnap import engine
from navsnap import manifest as manifest_module
from navsnap.config import load_config
from navsnap.errors import FormatVersionError, IntegrityError
from navsnap.hashing import hash_bytes
from navsnap.index import resolve
from navsnap.manifest import Manifest, canonical_json
from navsnap.restore.plan import plan_restore
from navsnap.store import open_store

pytestmark = pytest.mark.core

YEAR = 2026


def make(tmp_path: Path, sql: str) -> Path:
    """``model.duckdb`` built by ``sql`` (skipped when the running DuckDB cannot run it:
    typed parameters and overloads are newer than some supported releases, and before 2.0
    no sequence hands out the BIGINT limits), snapshotted. The file is in the running
    DuckDB's newest storage (typed macro parameters need 1.4's)."""
    db = tmp_path / "model.duckdb"
    newest: dict[str, str | bool | int | float | list[str]] = (
        {"storage_compatibility_version": "latest"} if engine.RUNNING >= (1, 1, 0) else {}
    )
    con = duckdb.connect(str(db), config=newest)
    try:
        con.execute(sql)
    except (duckdb.ParserException, duckdb.SequenceException) as exc:
        pytest.skip(f"DuckDB {duckdb.__version__} cannot: {str(exc).splitlines()[0]}")
    finally:
        con.close()
    navsnap.checkpoint(
        db=db, year=YEAR, store=tmp_path / "store", config=load_config(search_cwd=False)
    )
    return db


def restored(tmp_path: Path, db: Path) -> Path:
    """The snapshot restored to another folder (the same stem), checked to match its own
    snapshot (a restore after it would have nothing to do)."""
    out = tmp_path / "restored" / db.name
    out.parent.mkdir()
    navsnap.restore(store=tmp_path / "store", db=db, year=YEAR, to=out)
    st = open_store(tmp_path / "store")
    assert plan_restore(st, resolve(st, year=YEAR), db_path=out).strategy == "none"
    return out


def answers(db: Path, queries: list[str]) -> list[Any]:
    """What each query returns (or the first line of its error) on a fresh copy of ``db``."""
    copy = db.with_name(db.stem + ".probe.duckdb")
    shutil.copyfile(db, copy)
    con = duckdb.connect(str(copy))
    out: list[Any] = []
    try:
        for q in queries:
            try:
                out.append(con.execute(q).fetchall())
            except duckdb.Error as exc:
                out.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        con.close()
        copy.unlink()
    return out


MACROS = (
    "SELECT schema_name, function_name, function_type, parameters, parameter_types, "
    "macro_definition FROM duckdb_functions() WHERE NOT internal "
    "AND function_type IN ('macro', 'table_macro') ORDER BY ALL"
)

# --------------------------------------------------------------------------- macros


def test_typed_macro_parameters_come_back(tmp_path: Path) -> None:
    db = make(
        tmp_path,
        "CREATE TABLE t (simulation_year INTEGER); INSERT INTO t VALUES (2026);"
        "CREATE MACRO f(a INTEGER, b VARCHAR) AS a || b;"
        "CREATE MACRO g(a, b DECIMAL(10, 2)) AS a + b;"
        'CREATE MACRO h(s STRUCT("x y" INTEGER, z VARCHAR[])) AS s.z;',
    )
    out = restored(tmp_path, db)
    calls = [
        MACROS,
        "SELECT f(1, 'x')",
        "SELECT f(1, 2)",  # a Binder Error: b is VARCHAR
        "SELECT typeof(g(1, 2))",
        "SELECT h({'x y': 1, 'z': ['a']})",
    ]
    want = answers(db, calls)
    assert want[0][0][4] == ["INTEGER", "VARCHAR"]
    assert "Binder" in want[2]
    assert answers(out, calls) == want


def test_a_macro_with_overloads_comes_back_as_one_macro(tmp_path: Path) -> None:
    db = make(
        tmp_path,
        "CREATE TABLE t (simulation_year INTEGER, x INTEGER); INSERT INTO t VALUES (2026, 5);"
        "CREATE MACRO f(a) AS a, (a, b) AS a + b;"
        "CREATE MACRO rows_of(y) AS TABLE (SELECT * FROM t WHERE simulation_year = y),"
        " (y, m) AS TABLE (SELECT x * m AS x FROM t WHERE simulation_year = y);"
        "COMMENT ON MACRO f IS 'two overloads';",
    )
    out = restored(tmp_path, db)
    calls = [
        MACROS,
        "SELECT f(1), f(1, 2)",
        "SELECT * FROM rows_of(2026)",
        "SELECT * FROM rows_of(2026, 3)",
        "SELECT DISTINCT comment FROM duckdb_functions() WHERE function_name = 'f'",
    ]
    want = answers(db, calls)
    assert len(want[0]) == 4  # one row per overload
    assert answers(out, calls) == want


def test_typed_overloads_come_back(tmp_path: Path) -> None:
    db = make(
        tmp_path,
        "CREATE TABLE t (simulation_year INTEGER); INSERT INTO t VALUES (2026);"
        "CREATE MACRO f(a INTEGER) AS a * 10, (a VARCHAR) AS a || '!', (a, b DATE) AS b;",
    )
    out = restored(tmp_path, db)
    calls = [MACROS, "SELECT f(1), f('x'), f(1, DATE '2026-01-02')", "SELECT f(1.5)"]
    assert answers(out, calls) == answers(db, calls)


# --------------------------------------------------------------------------- creation order


def test_tables_whose_default_or_check_calls_a_macro_come_back(tmp_path: Path) -> None:
    # DuckDB binds, at CREATE, the macros a DEFAULT or CHECK calls, what a macro's body
    # calls and reads, and what a view names: macros come before the tables that call them,
    # after the tables and views they read, and views after the macros they call.
    db = make(
        tmp_path,
        """
        CREATE TABLE base (simulation_year INTEGER, x INTEGER);
        CREATE MACRO add_one(x) AS x + 1;
        CREATE MACRO pos(x) AS x > 0;
        CREATE MACRO twice_plus(x) AS add_one(x) * 2;
        CREATE TABLE t (
            simulation_year INTEGER,
            x INTEGER DEFAULT add_one(1),
            y INTEGER CHECK (pos(y)),
            z INTEGER DEFAULT twice_plus(2)
        );
        CREATE MACRO base_rows(yr) AS TABLE SELECT * FROM base WHERE simulation_year = yr;
        CREATE VIEW v AS SELECT add_one(x) AS x1 FROM t;
        CREATE MACRO n_v() AS (SELECT count(*) FROM v);
        CREATE VIEW v2 AS SELECT n_v() AS n;
        INSERT INTO base VALUES (2026, 7);
        INSERT INTO t (simulation_year, y) VALUES (2026, 1), (2026, 2);
        """,
    )
    out = restored(tmp_path, db)
    calls = [
        MACROS,
        "SELECT table_name, sql FROM duckdb_tables() ORDER BY ALL",
        "SELECT view_name, sql FROM duckdb_views() WHERE NOT internal ORDER BY ALL",
        "INSERT INTO t (simulation_year, y) VALUES (2026, 3) RETURNING *",
        "INSERT INTO t (simulation_year, y) VALUES (2026, -1)",  # the CHECK refuses it
        "SELECT * FROM v2",
        "SELECT * FROM base_rows(2026)",
    ]
    want = answers(db, calls)
    assert want[3] == [(2026, 2, 3, 6)]
    assert "Constraint" in want[4]
    assert answers(out, calls) == want


# --------------------------------------------------------------------------- sequences

BIG = 2**63 - 1

#: (sequence DDL, how many values a DEFAULT nextval() hands out before the snapshot)
SEQUENCE_CASES = {
    "never-used": ("CREATE SEQUENCE q START 10", 0),
    "used-once": ("CREATE SEQUENCE q START 10", 1),
    "by-five": ("CREATE SEQUENCE q START 10 INCREMENT BY 5", 3),
    "exhausted": ("CREATE SEQUENCE q START 1 MAXVALUE 3", 3),
    "exhausted-descending": (
        "CREATE SEQUENCE q INCREMENT BY -1 MINVALUE 1 MAXVALUE 3 START 3",
        3,
    ),
    "at-bigint-max": (f"CREATE SEQUENCE q START {BIG}", 1),
    "at-bigint-min": (
        f"CREATE SEQUENCE q INCREMENT BY -1 MINVALUE {-BIG - 1} MAXVALUE 0 START {-BIG - 1}",
        1,
    ),
    "cycle-wrapped": ("CREATE SEQUENCE q START 1 MAXVALUE 3 CYCLE", 3),
    "cycle-by-two-wrapped": ("CREATE SEQUENCE q INCREMENT BY 2 MINVALUE 1 MAXVALUE 4 CYCLE", 2),
    "cycle-mid": ("CREATE SEQUENCE q START 1 MAXVALUE 3 CYCLE", 2),
}

SEQUENCE_STATE = [
    "SELECT last_value FROM duckdb_sequences()",
    "SELECT currval('q')",
    *["SELECT nextval('q')"] * 4,
    "SELECT currval('q')",
]


@pytest.mark.parametrize("case", sorted(SEQUENCE_CASES))
def test_a_sequence_comes_back_where_it_stands(tmp_path: Path, case: str) -> None:
    ddl, used = SEQUENCE_CASES[case]
    db = make(
        tmp_path,
        f"{ddl}; CREATE TABLE t (simulation_year INTEGER, id BIGINT DEFAULT nextval('q'));"
        "INSERT INTO t VALUES (2026, 0);"
        f"INSERT INTO t (simulation_year) SELECT 2026 FROM range({used});",
    )
    out = restored(tmp_path, db)
    want = answers(db, SEQUENCE_STATE)
    assert ("Sequence" in str(want[1])) == (used == 0)  # currval: only once it handed one out
    assert answers(out, SEQUENCE_STATE) == want
    # The snapshot is one every reader of the store takes as sound.
    assert navsnap.verify_store(tmp_path / "store").ok
    assert len(navsnap.list_snapshots(tmp_path / "store").snapshots) == 1


def test_sequences_in_a_schema_with_odd_names_come_back(tmp_path: Path) -> None:
    db = make(
        tmp_path,
        'CREATE SCHEMA "s p"; CREATE SEQUENCE "s p"."Q x" START 5;'
        'CREATE TABLE t (simulation_year INTEGER, id BIGINT DEFAULT nextval(\'"s p"."Q x"\'));'
        "INSERT INTO t (simulation_year) SELECT 2026 FROM range(2);",
    )
    out = restored(tmp_path, db)
    calls = [
        "SELECT last_value FROM duckdb_sequences()",
        'SELECT currval(\'"s p"."Q x"\'), nextval(\'"s p"."Q x"\')',
    ]
    want = answers(db, calls)
    assert want[1][0][1] == 7
    assert answers(out, calls) == want


def _forged(store: Path, change: Any) -> bytes:
    """The store's one manifest with ``change`` applied to its JSON, integrity recomputed
    (what anyone who can write the store can do)."""
    manifest = resolve(open_store(store), year=YEAR)
    doc = json.loads(manifest.to_json())
    doc.pop("integrity")
    change(doc)
    doc["integrity"] = hash_bytes(canonical_json(doc))
    return json.dumps(doc).encode()


def test_a_used_sequence_needs_format_version_2(tmp_path: Path) -> None:
    make(
        tmp_path,
        "CREATE SEQUENCE q START 10; CREATE SEQUENCE fresh;"
        "CREATE TABLE t (simulation_year INTEGER, id BIGINT DEFAULT nextval('q'));"
        "INSERT INTO t (simulation_year) VALUES (2026);",
    )
    store = tmp_path / "store"
    manifest = resolve(open_store(store), year=YEAR)
    assert manifest.format_version == 2
    seqs = {d.name: d for d in manifest.ddl if d.kind == "sequence"}
    assert seqs["q"].used and " START 10 " in seqs["q"].sql
    assert not seqs["fresh"].used
    doc = json.loads(manifest.to_json())
    assert {d["name"]: d.get("used") for d in doc["ddl"]} == {"q": True, "fresh": None}


def test_a_snapshot_without_used_sequences_stays_format_version_1(tmp_path: Path) -> None:
    make(
        tmp_path,
        "CREATE SEQUENCE fresh START 3; CREATE TABLE t (simulation_year INTEGER);"
        "INSERT INTO t VALUES (2026);",
    )
    manifest = resolve(open_store(tmp_path / "store"), year=YEAR)
    assert manifest.format_version == 1
    assert all("used" not in d for d in json.loads(manifest.to_json())["ddl"])


def _sequence_entry(doc: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in doc["ddl"] if d["kind"] == "sequence")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda doc: doc.update(format_version=1), "needs format_version 2"),
        (lambda doc: _sequence_entry(doc).update(used=1), "is not true"),
        (lambda doc: _sequence_entry(doc).update(used="yes"), "is not true"),
        (lambda doc: _sequence_entry(doc).update(name="other"), "not the entry's sequence"),
        (lambda doc: _sequence_entry(doc).update(schema="s"), "not the entry's sequence"),
        (
            lambda doc: doc["ddl"].append(
                {
                    "kind": "schema",
                    "schema": "x",
                    "name": "x",
                    "sql": "CREATE SCHEMA x;",
                    "used": True,
                }
            ),
            "only a sequence",
        ),
    ],
)
def test_used_is_checked_like_every_field_a_restore_acts_on(
    tmp_path: Path, change: Any, why: str
) -> None:
    make(
        tmp_path,
        "CREATE SEQUENCE q START 10;"
        "CREATE TABLE t (simulation_year INTEGER, id BIGINT DEFAULT nextval('q'));"
        "INSERT INTO t (simulation_year) VALUES (2026);",
    )
    with pytest.raises(IntegrityError, match=r"ddl\[[0-9]\]\.used") as info:
        Manifest.from_json(_forged(tmp_path / "store", change))
    assert why in info.value.one_line()


def test_a_version_1_reader_refuses_a_used_sequence_as_newer(tmp_path: Path) -> None:
    make(
        tmp_path,
        "CREATE SEQUENCE q START 10;"
        "CREATE TABLE t (simulation_year INTEGER, id BIGINT DEFAULT nextval('q'));"
        "INSERT INTO t (simulation_year) VALUES (2026);",
    )
    raw = resolve(open_store(tmp_path / "store"), year=YEAR).to_json()
    with (
        pytest.raises(FormatVersionError, match="format version 2"),
        pytest.MonkeyPatch.context() as mp,
    ):
        mp.setattr(manifest_module, "FORMAT_VERSION", 1)
        Manifest.from_json(raw)


def test_an_older_manifests_sequence_restores_as_before(tmp_path: Path) -> None:
    # Before used sequences, START was the next value and a restore only created it.
    db = make(
        tmp_path,
        "CREATE SEQUENCE q START 10;"
        "CREATE TABLE t (simulation_year INTEGER, id BIGINT DEFAULT nextval('q'));"
        "INSERT INTO t (simulation_year) VALUES (2026);",
    )
    store = tmp_path / "store"
    manifest = resolve(open_store(store), year=YEAR)

    def older(doc: dict[str, Any]) -> None:
        entry = _sequence_entry(doc)
        del entry["used"]
        entry["sql"] = entry["sql"].replace(" START 10 ", " START 11 ")
        doc["format_version"] = 1

    (store / "manifests" / f"{manifest.snapshot_id}.json").write_bytes(_forged(store, older))
    out = tmp_path / "restored" / db.name
    out.parent.mkdir()
    navsnap.restore(store=store, db=db, year=YEAR, to=out)
    got = answers(out, ["SELECT last_value FROM duckdb_sequences()", "SELECT nextval('q')"])
    assert got == [[(None,)], [(11,)]]


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("CREATE MACRO f(a, b := 5) AS a + b;", '"main"."f"'),
        ("CREATE MACRO f(a := 1) AS a;", '"main"."f"'),
        ("CREATE MACRO rows_of(y, m := 2) AS TABLE SELECT y * m AS x;", '"main"."rows_of"'),
        ('CREATE SCHEMA "s x"; CREATE MACRO "s x"."g""h"(a, b := 5) AS a;', '"s x"."g""h"'),
        ("CREATE MACRO f(a, b := 1, c := 2) AS a + b + c;", '"main"."f"'),
        ("CREATE MACRO f(a) AS a, (a, b, c := 1) AS a + b;", '"main"."f"'),  # 1.1 and later
        ("CREATE MACRO f(a) AS a, (a, b := 1) AS a + b;", '"main"."f"'),  # 1.1 and later
    ],
)
def test_a_macro_parameter_default_is_refused_at_checkpoint(
    tmp_path: Path, sql: str, name: str
) -> None:
    # duckdb_functions() lists no defaults: a restore would give f(a, b) back and f(1) would
    # fail. The checkpoint refuses, naming the macro, and commits nothing.
    db = tmp_path / "model.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t (simulation_year INTEGER); INSERT INTO t VALUES (2026);")
    try:
        con.execute(sql)
    except (duckdb.ParserException, duckdb.BinderException) as exc:  # overloads: 1.1 on
        pytest.skip(f"DuckDB {duckdb.__version__} cannot: {str(exc).splitlines()[0]}")
    finally:
        con.close()
    with pytest.raises(navsnap.DatabaseError, match="parameter default") as caught:
        navsnap.checkpoint(
            db=db, year=YEAR, store=tmp_path / "store", config=load_config(search_cwd=False)
        )
    assert name in str(caught.value)
    assert not list((tmp_path / "store").glob("manifests/*"))
    assert not list((tmp_path / "store").glob("objects/**/*.parquet"))


def test_macros_without_defaults_are_not_taken_for_macros_with_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The probe reads DuckDB's refusal of a call with one argument too many. A name DuckDB
    # answers otherwise (its parser owns IFNULL, its binder UNNEST) is logged as not
    # checked, never refused; a built-in's name DuckDB leaves to the macro (count) is asked.
    with caplog.at_level("WARNING", logger="navsnap.snapshot"):
        db = make(
            tmp_path,
            "CREATE TABLE t (simulation_year INTEGER); INSERT INTO t VALUES (2026);"
            "CREATE MACRO f(a, b) AS a + b; CREATE MACRO z() AS 1;"
            "CREATE MACRO r(n) AS TABLE SELECT * FROM range(n);"
            'CREATE MACRO main."count"(a) AS 7; CREATE MACRO main."ifnull"(a, b) AS a;'
            'CREATE MACRO main."unnest"(a, b) AS 7;',
        )
    out = restored(tmp_path, db)
    calls = [MACROS, "SELECT f(1, 2), z(), main.count(1)", "SELECT * FROM r(2)"]
    assert answers(out, calls) == answers(db, calls)
    said = sorted(r.getMessage() for r in caplog.records if "not checked" in r.getMessage())
    assert said == [
        f'macro "main"."{name}" was not checked for parameter defaults: DuckDB answers a call '
        "of that name with something else than its signature"
        for name in ("ifnull", "unnest")
    ]


def test_an_interrupted_probe_is_no_answer_about_defaults() -> None:
    # Ctrl-C (DuckDB's InterruptException) or memory running out while the probe binds must
    # end the checkpoint as such, not be read as a macro with a default.
    from navsnap.catalog import Macro, macros_with_defaults

    class Interrupted:
        def execute(self, _sql: str) -> None:
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")

    f = Macro("main", "f", "macro", ("a", "b"), "(a + b)", 1, None, (None, None))
    with pytest.raises(duckdb.InterruptException):
        macros_with_defaults(Interrupted(), [f])  # type: ignore[arg-type]
