"""A manifest checks its own name: ``manifests/<id>.json`` must hold the snapshot ``<id>``,
whose ``run_id`` and ``year`` spell that id (issue 11). A manifest copied over another's file
(2028's content under 2029's name) was verified and restored as 2029, exit 0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke, tree_bytes

import navsnap
from navsnap.errors import IntegrityError
from navsnap.store import open_store
from navsnap.store.trust import KEY_ENV, KEY_FILE_ENV, Signer

KEY = "correct-horse-battery-staple-0123456789"


def two_years(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None) -> tuple[Path, str]:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    if key is None:
        monkeypatch.delenv(KEY_ENV, raising=False)
    else:
        monkeypatch.setenv(KEY_ENV, key)
    cfg = navsnap.load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    store = tmp_path / "store"
    report = navsnap.run(cfg, db=tmp_path / "sim.duckdb", years=(2028, 2029), store=store)
    return store, report.run_id


def copy_over(store: Path, src: str, dst: str, key: str | None) -> None:
    """Put manifest ``src``'s content at ``dst``'s name, re-sealed for that name when signed
    (what someone holding the key, or a sync tool mixing up files, could leave behind)."""
    doc = json.loads((store / "manifests" / f"{src}.json").read_text())
    if key is not None:
        signer = Signer(key.encode())
        doc.pop("mac")
        doc = signer.seal(f"manifests/{dst}.json", doc)
    (store / "manifests" / f"{dst}.json").write_text(json.dumps(doc, indent=2, sort_keys=True))


@pytest.mark.parametrize("key", [None, KEY], ids=["unsigned", "signed"])
def test_a_manifest_under_another_name_is_refused_by_every_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str | None
) -> None:
    store, run = two_years(tmp_path, monkeypatch, key)
    copy_over(store, f"{run}-2028", f"{run}-2029", key)
    s = ["--store", str(store)]
    db = tmp_path / "sim.duckdb"
    before = {**tree_bytes(store), **{f"db/{k}": v for k, v in tree_bytes(db).items()}}

    code, out, err = invoke("restore", f"{run}-2029", *s, "--db", str(db))
    assert code == 8, (code, err)
    [line] = [ln for ln in err.splitlines() if ln.strip()]
    assert f"manifests/{run}-2029.json" in line and f"{run}-2028" in line, line
    assert "Traceback" not in err
    code, _, err = invoke("restore", "--year", "2029", *s, "--db", str(db))
    assert code == 8, (code, err)
    code, out, err = invoke("verify", *s)
    assert code == 14 and f"{run}-2029" in out + err, out + err
    for args in (("show", f"{run}-2029"), ("sql", f"{run}-2029", "SELECT 1"),
                 ("diff", f"{run}-2028", f"{run}-2029")):  # fmt: skip
        code, _, err = invoke(*args, *s)
        assert code == 8 and "copied or renamed" in err, (args, code, err)
    after = {**tree_bytes(store), **{f"db/{k}": v for k, v in tree_bytes(db).items()}}
    # verify records what it found under state/; nothing else changed
    assert {k: v for k, v in after.items() if not k.startswith("state/")} == {
        k: v for k, v in before.items() if not k.startswith("state/")
    }

    # the intact 2028 manifest still reads; the store lists the bad one as damaged
    st = open_store(store)
    assert st.load_manifest(f"{run}-2028").year == 2028
    with pytest.raises(IntegrityError) as info:
        st.load_manifest(f"{run}-2029")
    assert info.value.snapshot_id == f"{run}-2029"
    good, broken = st.read_manifests()
    assert [m.snapshot_id for m in good] == [f"{run}-2028"]
    assert [b.snapshot_id for b in broken] == [f"{run}-2029"]


def test_a_manifest_whose_run_and_year_disagree_with_its_id_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The id inside matches the name, but run_id/year spell another snapshot."""
    from navsnap.hashing import hash_bytes
    from navsnap.manifest import canonical_json

    store, run = two_years(tmp_path, monkeypatch, None)
    path = store / "manifests" / f"{run}-2029.json"
    doc = json.loads(path.read_text())
    doc.pop("integrity")
    doc["year"] = 2028
    doc["integrity"] = hash_bytes(canonical_json(doc))
    path.write_text(json.dumps(doc, indent=2, sort_keys=True))
    with pytest.raises(IntegrityError, match=r"year 2028 .*not '.*-2029'"):
        open_store(store).load_manifest(f"{run}-2029")


def test_a_manifest_published_meanwhile_by_another_writer_is_never_overwritten(
    tmp_path: Path, toy_config: navsnap.Config
) -> None:
    import duckdb

    from navsnap.errors import StoreError
    from navsnap.lineage import config_block
    from navsnap.snapshot import SnapshotJob, SnapshotOptions
    from navsnap.steps import parse_step

    db = tmp_path / "sim.duckdb"
    navsnap.run(toy_config, db=db, years=(2025, 2025), snapshots=False)
    store = open_store(tmp_path / "store")
    step = parse_step(toy_config.run.step)
    con = duckdb.connect(str(db))
    try:
        job = SnapshotJob.start(
            con,
            store=store,
            year=2025,
            run_id="same",
            config=config_block(toy_config, step=step),
            options=SnapshotOptions.from_config(toy_config, step=step),
            db_path=db,
        )
        theirs = b'{"written": "by another machine"}'
        store.write_bytes_atomic("manifests/same-2025.json", theirs)
        with pytest.raises(StoreError, match="already exists"):
            job.finish()
    finally:
        con.close()
    assert store.read_bytes("manifests/same-2025.json") == theirs
