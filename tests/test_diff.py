"""navsnap diff: a pure comparison of two manifests, then the CLI over a real store."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from conftest import invoke
from hypothesis import given
from hypothesis import strategies as st

from navsnap.cli import main
from navsnap.config import Config
from navsnap.diff import ColumnChange, diff_manifests
from navsnap.index import read_all
from navsnap.manifest import (
    ConfigBlock,
    DdlEntry,
    Fingerprint,
    Manifest,
    ObjectRef,
    Partition,
    PartitionKey,
    TableEntry,
)
from navsnap.runner import run
from navsnap.store import open_store


def part(year: str | None, rows: int, fp: str) -> Partition:
    return Partition(
        year=PartitionKey.from_json(year),
        rows=rows,
        fingerprint=Fingerprint(1, fp),
        object=ObjectRef(f"objects/{fp}", fp, 1),
    )


def entry(
    name: str,
    parts: tuple[Partition, ...],
    columns: tuple[tuple[str, str, bool], ...] = (("simulation_year", "INTEGER", True),),
    ddl: str | None = None,
) -> TableEntry:
    return TableEntry(
        name=name,
        schema="main",
        table=name,
        ddl=ddl or f"CREATE TABLE {name}(...);",
        columns=columns,
        year_column="simulation_year",
        depends_on=(),
        partitions=parts,
    )


def manifest(sid: str, year: int, tables: tuple[TableEntry, ...], **kw: object) -> Manifest:
    base: dict[str, object] = dict(
        snapshot_id=sid,
        run_id=sid.rsplit("-", 1)[0],
        year=year,
        created_at="2026-01-01T00:00:00Z",
        mode="parquet",
        navsnap_version="0",
        duckdb_version="0",
        database_name="db",
        storage_version=None,
        year_column="simulation_year",
        config=ConfigBlock(identity={"run.seed": 42}, hash="h"),
        tables=tables,
    )
    base.update(kw)
    return Manifest(**base)  # type: ignore[arg-type]


def test_consecutive_years_of_one_run() -> None:
    a = manifest("r1-2025", 2025, (entry("t", (part("2025", 10, "f1"),)),))
    b = manifest("r1-2026", 2026, (entry("t", (part("2025", 10, "f1"), part("2026", 12, "f2"))),))
    d = diff_manifests(a, b)
    assert d.same_run
    [t] = d.tables
    assert t.status == "changed" and (t.rows_a, t.rows_b) == (10, 22)
    assert [(p.year, p.rows_a, p.rows_b, p.status) for p in t.partitions] == [
        ("2025", 10, 10, "same"),
        ("2026", None, 12, "added"),
    ]
    assert t.partitions[0].fingerprint_equal and not t.partitions[1].fingerprint_equal
    assert not d.identical


def test_same_year_two_runs_with_schema_and_config_changes() -> None:
    cols_a = (
        ("simulation_year", "INTEGER", True),
        ("pay", "DECIMAL(12,2)", False),
        ("x", "INT", False),
    )
    cols_b = (("simulation_year", "INTEGER", True), ("pay", "DOUBLE", False), ("y", "INT", True))
    a = manifest(
        "r1-2026",
        2026,
        (entry("t", (part("2026", 5, "f1"),), cols_a), entry("gone", ())),
        validation={"headcount": 5, "pay": "100"},
        ddl=(DdlEntry("view", "main", "v", "CREATE VIEW v AS SELECT 1"),),
    )
    b = manifest(
        "r2-2026",
        2026,
        (
            entry("t", (part("2026", 5, "f9"),), cols_b, ddl="CREATE TABLE t(changed);"),
            entry("new", ()),
        ),
        validation={"headcount": 5, "pay": "120"},
        config=ConfigBlock(identity={"run.seed": 7}, hash="h2"),
        ddl=(DdlEntry("view", "main", "v", "CREATE VIEW v AS SELECT 2"),),
    )
    d = diff_manifests(a, b)
    assert not d.same_run
    by_name = {t.name: t for t in d.tables}
    t = by_name["t"]
    assert t.ddl_changed and t.partitions[0].status == "changed"
    assert set(t.columns) == {
        ColumnChange("x", "removed", "INT", None),
        ColumnChange("y", "added", None, "INT"),
        ColumnChange("pay", "retyped", "DECIMAL(12,2)", "DOUBLE"),
    }
    assert by_name["gone"].status == "removed" and by_name["new"].status == "added"
    assert [(v.key, v.a, v.b, v.equal) for v in d.validation] == [
        ("headcount", 5, 5, True),
        ("pay", "100", "120", False),
    ]
    assert [(k.key, k.old, k.new) for k in d.config_keys] == [("run.seed", 42, 7)]
    assert [(o.kind, o.name, o.change) for o in d.objects] == [("view", "v", "changed")]
    json.dumps(d.to_dict())  # serialisable


def test_nullability_change_is_reported() -> None:
    a = manifest("r-1", 1, (entry("t", (), (("c", "INT", False),)),))
    b = manifest("r-2", 1, (entry("t", (), (("c", "INT", True),)),))
    [c] = diff_manifests(a, b).tables[0].columns
    assert (c.change, c.old, c.new) == ("nullability", "NULL", "NOT NULL")


_fps = st.dictionaries(
    st.sampled_from(["2025", "2026", "2027", None]),
    st.tuples(st.integers(0, 1000), st.text("0123456789abcdef", min_size=1, max_size=6)),
    max_size=4,
)


@given(_fps, _fps)
def test_diff_properties(
    pa: dict[str | None, tuple[int, str]], pb: dict[str | None, tuple[int, str]]
) -> None:
    ta = entry("t", tuple(part(y, n, f) for y, (n, f) in pa.items()))
    tb = entry("t", tuple(part(y, n, f) for y, (n, f) in pb.items()))
    a, b = manifest("r-1", 1, (ta,)), manifest("r-2", 1, (tb,))
    assert diff_manifests(a, a).identical
    d = diff_manifests(a, b)
    assert d.identical == (
        {y: f for y, (_n, f) in pa.items()} == {y: f for y, (_n, f) in pb.items()}
    )
    back = diff_manifests(b, a)
    flip = {"added": "removed", "removed": "added"}
    assert [flip.get(p.status, p.status) for p in d.tables[0].partitions] == [
        p.status for p in back.tables[0].partitions
    ]


def test_cli_diff_over_a_real_store(tmp_path: Path, toy_config: Config) -> None:
    store = open_store(tmp_path / "store")
    run(toy_config, db=tmp_path / "a.duckdb", years=(2025, 2026), store=store)
    run(toy_config, db=tmp_path / "b.duckdb", years=(2025, 2025), store=store)
    ms = read_all(store)[0]
    a2025, a2026, b2025 = ms
    runner = CliRunner()
    with runner.isolation() as (out, _err, _mixed):
        try:
            main(["diff", a2025.snapshot_id, b2025.snapshot_id, "--store", store.url])
        except SystemExit as exc:
            assert not exc.code
        text = out.getvalue().decode()
    assert text.rstrip().endswith("identical")
    with runner.isolation() as (out, _err, _mixed):
        try:
            main(["diff", a2025.snapshot_id, a2026.snapshot_id, "--store", store.url, "--json"])
        except SystemExit as exc:
            assert not exc.code
        data = json.loads(out.getvalue())
    yearly = next(t for t in data["tables"] if t["name"] == "yearly")
    assert [(p["year"], p["status"]) for p in yearly["partitions"]] == [
        (2025, "same"),  # years are integers in every JSON output (docs/json.md)
        (2026, "added"),
    ]
    assert data["identical"] is False


def test_diff_exit_code_is_1_when_the_snapshots_differ(tmp_path: Path, toy_config: Config) -> None:
    store = open_store(tmp_path / "store")
    run(toy_config, db=tmp_path / "a.duckdb", years=(2025, 2026), store=store)
    run(toy_config, db=tmp_path / "b.duckdb", years=(2025, 2025), store=store)
    a2025, a2026, b2025 = (m.snapshot_id for m in read_all(store)[0])
    where = ("--store", store.url)
    assert invoke("diff", "--exit-code", a2025, b2025, *where)[0] == 0
    code, out, _ = invoke("diff", "--exit-code", a2025, a2026, *where)
    assert code == 1 and out.rstrip().endswith("different")
    code, out, _ = invoke("diff", a2025, a2026, "--exit-code", "--json", *where)
    assert code == 1 and json.loads(out)["identical"] is False
    assert invoke("diff", a2025, a2026, *where)[0] == 0  # without the flag: 0, as before
