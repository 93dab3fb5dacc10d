"""Every reading command against a malicious store (issue 13): nothing outside the target is
written, no internal error, a refused manifest is exit 8 (or reported by verify, exit 14).

The corpus is ``tests/malicious``: forged manifests, sealed with a recomputed integrity hash.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import invoke
from malicious import CASES, COPY_TO, Case, ddl_mutation

import navsnap
from navsnap.config import load_config
from navsnap.hashing import hash_bytes
from navsnap.manifest import canonical_json

TOY_STEP = "toy_pipeline:step"
SECRET = "NAVSNAP-TOP-SECRET-7f3a"

#: (name, argv, exit codes allowed for a refused manifest). {sid} is the forged snapshot.
COMMANDS: list[tuple[str, tuple[str, ...], frozenset[int]]] = [
    ("list", ("list",), frozenset({0})),
    ("show", ("show", "{sid}"), frozenset({8})),
    ("verify", ("verify",), frozenset({14})),
    ("verify-deep", ("verify", "--deep"), frozenset({14})),
    ("status", ("status", "--years", "2025-2027", "--step", TOY_STEP), frozenset({0, 8})),
    ("diff", ("diff", "{old}", "{sid}"), frozenset({8})),
    ("sql", ("sql", "{sid}", "SELECT count(*) FROM people"), frozenset({8})),
    ("attach", ("attach", "{sid}", "--out", "{out}/attached.duckdb"), frozenset({8})),
    ("restore-to", ("restore", "{sid}", "--to", "{out}/restored.duckdb"), frozenset({8})),
    ("restore", ("restore", "{sid}"), frozenset({8})),
    (
        "run-resume",
        ("run", "--resume", "--years", "2025-2027", "--step", TOY_STEP),
        frozenset({0, 8}),
    ),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("malicious") / "w"
    root.mkdir()
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    report = navsnap.run(cfg, db=root / "simulation.duckdb", years=(2025, 2026))
    return root, report.run_id


def forge(case: Case, manifest: Path, *, canary: Path, secret: Path) -> None:
    data = json.loads(manifest.read_text())
    raw = case.mutate(data)
    if raw is None:
        text = json.dumps(data)
        text = text.replace("{canary}", canary.as_posix()).replace("{secret}", secret.as_posix())
        data = json.loads(text)
        data.pop("integrity", None)
        data["integrity"] = hash_bytes(canonical_json(data))
        raw = json.dumps(data, indent=2, sort_keys=True).encode()
    manifest.write_bytes(raw)


def outside(tmp: Path, work: Path) -> dict[str, int]:
    return {
        p.relative_to(tmp).as_posix(): p.stat().st_size
        for p in tmp.rglob("*")
        if p.is_file() and work not in p.parents
    }


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reading_commands_against_a_forged_manifest(
    case: Case, prepared: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, run_id = prepared
    work = tmp_path / "w"
    shutil.copytree(root, work)
    (work / "out").mkdir()
    canary = tmp_path / "canary.csv"
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    sid, old = f"{run_id}-2026", f"{run_id}-2025"
    forge(case, work / "snapshots" / "manifests" / f"{sid}.json", canary=canary, secret=secret)
    monkeypatch.chdir(work)
    before = outside(tmp_path, work)
    where = ("--db", str(work / "simulation.duckdb"), "--store", str(work / "snapshots"))

    for name, argv, refused_codes in COMMANDS:
        args = [
            a.replace("{sid}", sid).replace("{old}", old).replace("{out}", str(work / "out"))
            for a in argv
        ]
        code, out, err = invoke(*args, *where)
        said = f"{case.name} / {name}: exit {code}: {err.strip()[-400:]}"
        assert code != 1 and "internal error" not in err and "Traceback" not in err, said
        assert not canary.exists(), said
        assert outside(tmp_path, work) == before, said
        assert SECRET not in out, said
        if case.refused:
            assert code in refused_codes, said
            if code == 8:
                assert "field" in err or "manifest" in err, said
        else:
            assert code in {0, 10}, said


def test_manifest_sql_never_makes_duckdb_install_an_extension(
    prepared: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forged view over a URL would have DuckDB download httpfs at CREATE (and with it,
    fetch the URL). With autoinstall off the restore refuses the view (exit 12, nothing
    changed), no extension lands in DuckDB's home, and ``sql`` still answers on the tables."""
    root, run_id = prepared
    work = tmp_path / "w"
    shutil.copytree(root, work)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # where DuckDB would install it
    sid = f"{run_id}-2026"
    url_view = "CREATE VIEW main.evil AS SELECT * FROM read_csv('https://example.invalid/x.csv')"
    case = Case("view-reads-url", ddl_mutation("view", url_view), refused=False)
    forge(case, work / "snapshots" / "manifests" / f"{sid}.json", canary=home, secret=home)
    where = ("--db", str(work / "simulation.duckdb"), "--store", str(work / "snapshots"))
    code, _, err = invoke("--debug", "restore", sid, "--to", str(tmp_path / "r.duckdb"), *where)
    assert code == 12, err
    assert "download" not in err.lower(), err  # --debug: DuckDB's whole message
    assert not list(home.rglob("*.duckdb_extension*"))
    assert not (tmp_path / "r.duckdb").exists()
    code, out, err = invoke("sql", sid, "SELECT count(*) > 0 FROM people", "--csv", *where)
    assert code == 0 and out.splitlines()[-1] == "True", err


SETTING = "SELECT current_setting('autoinstall_known_extensions')"


def test_every_instance_running_manifest_sql_has_autoinstall_off(
    prepared: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without network the download fails either way, so the test above cannot tell the
    setting apart: here the restore's and the analyst's connections are asked for it."""
    import duckdb

    from navsnap.restore import build

    root, run_id = prepared
    seen: list[object] = []
    real_connect = duckdb.connect

    class Spy:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self._con = con

        def __getattr__(self, name: str) -> object:
            return getattr(self._con, name)

        def close(self) -> None:
            row = self._con.execute(SETTING)
            seen.append(row.fetchone())
            self._con.close()

    class Shim:
        def __getattr__(self, name: str) -> object:
            return getattr(duckdb, name)

        @staticmethod
        def connect(*args: object, **kwargs: object) -> Spy:
            return Spy(real_connect(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(build, "duckdb", Shim())
    store = root / "snapshots"
    navsnap.restore(store=store, db=root / "simulation.duckdb", year=2026, to=tmp_path / "r.duckdb")
    assert seen and seen[0] == (False,)
    answer = navsnap.sql(store, f"{run_id}-2026", SETTING)
    assert answer.rows == ((False,),)
    # The scratch instance, where manifest column types are parsed (sqltype binds them).
    from navsnap import scratch

    cur = scratch.cursor()
    try:
        assert cur.execute(SETTING).fetchone() == (False,)
    finally:
        cur.close()


def test_the_catalog_rewrite_leaves_quoted_identifiers_whole() -> None:
    from navsnap.materialize import strip_catalog

    sql = 'CREATE VIEW v AS SELECT * FROM "x simulation.main.t", simulation.main.u'
    assert strip_catalog(sql, "simulation", set()) == (
        'CREATE VIEW v AS SELECT * FROM "x simulation.main.t", main.u'
    )
    assert strip_catalog('SELECT "simulation".main.t', "simulation", set()) == "SELECT main.t"


def test_rewritten_view_sql_is_checked_again(
    prepared: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the rewrite of the catalog name makes of a view, it runs only if it is still
    exactly one CREATE VIEW (the guard does not rest on the rewrite being right)."""
    import dataclasses

    from navsnap import materialize
    from navsnap.errors import IntegrityError
    from navsnap.manifest import DdlEntry, Manifest

    root, run_id = prepared
    raw = (root / "snapshots" / "manifests" / f"{run_id}-2026.json").read_bytes()
    m = Manifest.from_json(raw)
    m = dataclasses.replace(
        m, ddl=(*m.ddl, DdlEntry("view", "main", "v", "CREATE VIEW v AS SELECT 1 AS k"))
    )
    monkeypatch.setattr(materialize, "strip_catalog", lambda sql, _name, _rel: sql + "; " + COPY_TO)
    with pytest.raises(IntegrityError, match=r"field ddl\[\d+\]\.sql is refused once its catalog"):
        materialize.restored_ddl(m, catalog="other")
    assert materialize.restored_ddl(m, catalog=m.database_name) == m.ddl  # not rewritten


def test_checkpoint_never_runs_checks_inherited_from_a_manifest(
    prepared: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``checkpoint`` without --config inherits the newest snapshot's configuration: a forged
    newer manifest's check SQL would run locally and its result (a local file) be written
    into the shared store. The checks are left out (with a notice), the lineage is kept."""
    root, run_id = prepared
    work = tmp_path / "w"
    shutil.copytree(root, work)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    manifests = work / "snapshots" / "manifests"
    data = json.loads((manifests / f"{run_id}-2026.json").read_text())
    data["config"]["values"]["checks"] = {"leak": f"SELECT content FROM read_text('{secret}')"}
    forged_run = "20990101T000000Z-dead"
    data.update(
        created_at="2099-01-01T00:00:00.000000Z",
        run_id=forged_run,
        snapshot_id=f"{forged_run}-2026",
    )
    data.pop("integrity")
    data["integrity"] = hash_bytes(canonical_json(data))
    (manifests / f"{forged_run}-2026.json").write_text(json.dumps(data))
    monkeypatch.chdir(work)

    code, out, err = invoke(
        "checkpoint", "--year", "2026", "--db", str(work / "simulation.duckdb"), "--json"
    )
    assert code == 0, err
    assert "inherited without its checks (leak)" in err, err
    for p in manifests.glob("*.json"):
        assert SECRET not in p.read_text(), p.name
    written = json.loads((manifests / f"{json.loads(out)['snapshot_id']}.json").read_text())
    assert "checks" not in written["config"]["values"] and written["checks"] == {}
    assert written["config"]["hash"] == data["config"]["hash"]  # same lineage
    assert written["parent"] == data["parent"]  # the same year: the inherited one's parent


@pytest.fixture(scope="module")
def file_mode(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("filemode") / "w"
    root.mkdir()
    cfg = load_config(overrides={"run.step": TOY_STEP, "snapshot.mode": "file"}, search_cwd=False)
    report = navsnap.run(cfg, db=root / "simulation.duckdb", years=(2025, 2026))
    return root, report.run_id


def _sealed(path: Path, data: dict[str, object]) -> None:
    data.pop("integrity", None)
    data["integrity"] = hash_bytes(canonical_json(data))
    path.write_text(json.dumps(data))


def _not_zstd(data: dict, work: Path) -> None:  # type: ignore[type-arg]
    """An object whose name and hash are right but whose bytes are no zstd stream."""
    f = data["file"]
    stored = work / "snapshots" / f["object"]["key"]
    key = f["object"]["key"] + ".zst"
    shutil.copy(stored, work / "snapshots" / key)
    f["object"]["key"], f["compressed"] = key, True
    for t in data["tables"]:
        for p in t["partitions"]:
            p["object"] = dict(f["object"])


#: case -> (how it changes the manifest's JSON, given the store's folder; what the error says)
FILE_CASES: dict[str, tuple[Callable[[dict[str, Any], Path], object], str]] = {
    "mode-bogus": (lambda d, _w: d.update(mode="bogus"), "field mode"),
    "file-missing": (lambda d, _w: d.update(file=None), "field mode"),
    "file-in-parquet-mode": (lambda d, _w: d.update(mode="parquet"), "field mode"),
    "file-is-string": (lambda d, _w: d.update(file="x"), "file"),
    "compressed-on-plain-object": (lambda d, _w: d["file"].update(compressed=True), "field file"),
    "compressed-is-string": (lambda d, _w: d["file"].update(compressed="yes"), "field file"),
    "method-unknown": (lambda d, _w: d["file"].update(method="rm -rf"), "field file"),
    "raw-xxh3-path": (lambda d, _w: d["file"].update(raw_xxh3="../../etc"), "field file"),
    "raw-size-negative": (lambda d, _w: d["file"].update(raw_size=-5), "field file"),
    "not-zstd": (_not_zstd, "not a zstd stream"),
}


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_a_forged_file_block_is_refused(
    name: str, file_mode: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole-file manifests: the ``file`` block is checked like every field (exit 8 naming
    it), and stored bytes that do not decompress are a damaged object, not an internal
    error. Nothing changes."""
    root, run_id = file_mode
    work = tmp_path / "w"
    shutil.copytree(root, work)
    sid = f"{run_id}-2026"
    path = work / "snapshots" / "manifests" / f"{sid}.json"
    data = json.loads(path.read_text())
    mutate, said = FILE_CASES[name]
    mutate(data, work)
    _sealed(path, data)
    monkeypatch.chdir(work)
    db = work / "simulation.duckdb"
    before = db.read_bytes()
    where = ("--db", str(db), "--store", str(work / "snapshots"))
    for argv, codes in (
        (("restore", sid), {8}),
        (("restore", sid, "--to", str(work / "r.duckdb")), {8}),
        (("verify", "--deep"), {14}),
    ):
        code, _out, err = invoke(*argv, *where)
        assert code in codes and "internal error" not in err, f"{argv}: {code}: {err}"
        if code == 8:
            assert said in err, err
    assert db.read_bytes() == before
    assert not (work / "r.duckdb").exists()
