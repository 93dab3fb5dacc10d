"""Bad input, every command: one line on stderr, no traceback, the documented exit code, and
not one byte changed anywhere (the database, the store, the working directory).

One table drives the test. Each row names the error class whose exit code
``docs/exit-codes.md`` documents (``click`` for argument errors click itself reports: exit 2).
``{run}`` in an argument is replaced by the run id of the prepared store.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import TOY_STEP, invoke_at, tree_bytes

import navsnap
from navsnap.config import load_config
from navsnap.hashing import hash_bytes
from navsnap.manifest import Manifest, canonical_json

DOCS = Path(__file__).resolve().parent.parent / "docs" / "exit-codes.md"
STEP = ("--step", TOY_STEP)


def documented_codes() -> dict[str, int]:
    """Error class -> exit code, from the table in docs/exit-codes.md."""
    codes = {"click": 2}
    for code, name in re.findall(r"^\| (\d+) \| `(\w+)` \|", DOCS.read_text(), re.M):
        codes[name] = int(code)
    return codes


#: What a refused manifest's line names: the field (the store ``bad-type`` holds it).
FIELD = "field tables[0].columns[0] is refused"

# (id, arguments, error class, text the one line must contain)
CASES: list[tuple[str, tuple[str, ...], str, str]] = [
    # run
    ("run-years-reversed", ("run", "--years", "2029-2025"), "UsageError", "run backwards"),
    ("run-years-text", ("run", "--years", "abc"), "UsageError", "not of the form A-B"),
    ("run-years-range", ("run", "--years", "0-3"), "UsageError", "out of range"),
    ("run-years-half", ("run", "--years", "2025-20x9"), "UsageError", "not of the form"),
    # years are ASCII digits: int() also takes full-width digits, '_' and '+'
    (
        "run-years-full-width",
        ("run", "--years", "２０２５-２０２６"),
        "UsageError",
        "not of the form",
    ),
    ("run-years-underscore", ("run", "--years", "2_025-2_027"), "UsageError", "not of the form"),
    ("status-years-plus", ("status", "--years", "+2025-2026"), "UsageError", "not of the form"),
    ("restore-year-full-width", ("restore", "--year", "２０２６"), "click", "ASCII digits"),
    ("list-year-underscore", ("list", "--year", "2_026"), "click", "--year"),
    ("checkpoint-year-full-width", ("checkpoint", "--year", "２０２６"), "click", "--year"),
    ("show-year-underscore", ("show", "--year", "2_026"), "click", "--year"),
    ("prune-keep-years-full-width", ("prune", "--keep-years", "２０２５"), "click", "--keep-years"),
    (
        "run-resume-and-restart",
        ("run", *STEP, "--resume", "--force-restart"),
        "UsageError",
        "contradict",
    ),
    (
        "run-from-snapshot-gap",
        ("run", *STEP, "--years", "2027-2028", "--from-snapshot", "2025"),
        "UsageError",
        "year before",
    ),
    (
        "run-from-snapshot-and-resume",
        ("run", *STEP, "--years", "2027-2028", "--from-snapshot", "2026", "--resume"),
        "UsageError",
        "cannot be combined",
    ),
    ("config-missing", ("run", "--config", "missing.toml"), "ConfigError", "does not exist"),
    ("config-malformed", ("run", "--config", "bad.toml"), "ConfigError", "not valid TOML"),
    ("config-binary", ("run", "--config", "binary.toml"), "ConfigError", "binary.toml"),
    ("config-directory", ("run", "--config", "cfgdir"), "ConfigError", "cfgdir"),
    (
        "config-wrong-type",
        ("run", "--config", "wrongtype.toml"),
        "ConfigError",
        "simulation.employees",
    ),
    ("config-unknown-key", ("run", "--config", "unknown.toml"), "ConfigError", "run.colour"),
    ("config-years-backwards", ("run", "--config", "backwards.toml"), "ConfigError", "run.years"),
    (
        "input-holds-the-db",
        ("run", "--config", "inputs-dot.toml"),
        "ConfigError",
        "contains the database",
    ),
    (
        "input-holds-the-store",  # the run stopped at its first step, on a "changed" input
        ("run", "--config", "inputs-model.toml", "--store", "model/snaps"),
        "ConfigError",
        "contains the snapshot store",
    ),
    ("input-empty", ("run", "--config", "inputs-empty.toml"), "ConfigError", "an empty path"),
    ("input-device", ("run", "--config", "inputs-device.toml"), "ConfigError", "not a regular"),
    ("employees-zero", ("run", "--employees", "0"), "ConfigError", "simulation.employees"),
    ("step-unimportable", ("run", "--step", "no_such_mod_xyz:step"), "ConfigError", "imported"),
    ("run-db-directory", ("run", *STEP, "--db", "adir"), "DatabaseError", "is a directory"),
    ("run-store-scheme", ("run", *STEP, "--store", "ftp2://x"), "StoreError", "unknown store"),
    (
        "run-store-uncreatable",  # was an internal error (FileNotFoundError from mkdir)
        ("run", *STEP, "--db", "new.duckdb", "--store", "/proc/navsnap-no-such"),
        "StoreError",
        "cannot be created",
    ),
    (
        "run-foreign-store",
        ("run", *STEP, "--db", "new.duckdb", "--store", "notastore"),
        "StoreError",
        "not a navsnap store",
    ),
    (
        "run-future-store",
        ("run", *STEP, "--db", "new.duckdb", "--store", "future-store"),
        "FormatVersionError",
        "upgrade navsnap",
    ),
    (
        "run-read-only-store",
        ("run", *STEP, "--db", "new.duckdb", "--store", "ro/store"),
        "StoreError",
        "Read-only file system",
    ),
    (
        "tag-read-only-store",
        ("tag", "{run}-2026", "t1", "--store", "ro/store"),
        "StoreError",
        "use a writable --store",
    ),
    (
        "run-on-another-lineages-database",
        ("run", *STEP, "--years", "2025-2026", "--seed", "99"),
        "DriftError",
        "holds tables of another lineage",
    ),
    (
        "run-on-tables-without-snapshot",
        ("run", *STEP, "--years", "2025-2026", "--store", "adir"),
        "UsageError",
        "has no snapshot of database 'simulation'",
    ),
    ("run-wait-lock-negative", ("run", "--wait-lock", "-1"), "click", "--wait-lock"),
    # float options refuse nan and inf, which float() takes and every range check passes
    ("run-wait-lock-nan", ("run", "--wait-lock", "nan"), "click", "--wait-lock"),
    ("prune-grace-nan", ("prune", "--dry-run", "--grace-minutes", "nan"), "click", "finite"),
    ("prune-grace-inf", ("prune", "--grace-minutes", "inf"), "click", "--grace-minutes"),
    ("verify-since-hours-nan", ("verify", "--since-hours", "nan"), "click", "--since-hours"),
    ("verify-since-hours-inf", ("verify", "--since-hours", "inf"), "click", "finite"),
    ("verify-sample-nan", ("verify", "--sample", "NaN"), "click", "--sample"),
    (
        "restore-wait-lock-inf",
        ("restore", "--year", "2026", "--wait-lock", "inf"),
        "click",
        "finite",
    ),
    ("run-mode-unknown", ("run", "--mode", "zip"), "click", "--mode"),
    # restore
    ("restore-nothing-named", ("restore",), "UsageError", "say which snapshot"),
    ("restore-unknown", ("restore", "nosuch"), "SnapshotNotFound", "no snapshot or tag"),
    ("restore-unknown-year", ("restore", "--year", "2031"), "SnapshotNotFound", "year 2031"),
    (
        "restore-to-missing-directory",  # the lock's file created the directory
        ("restore", "--year", "2026", "--to", "nodir/x.duckdb"),
        "DatabaseError",
        "does not exist",
    ),
    ("restore-year-text", ("restore", "--year", "x"), "click", "--year"),
    (
        "restore-unknown-table",
        ("restore", "--year", "2026", "--tables", "nosuch"),
        "UsageError",
        "nosuch",
    ),
    # an empty table list is no table, not every table (it did a full restore)
    (
        "restore-tables-empty",
        ("restore", "--year", "2025", "--tables", ""),
        "UsageError",
        "no table",
    ),
    (
        "restore-tables-comma",
        ("restore", "--year", "2025", "--tables", " , "),
        "UsageError",
        "no table",
    ),
    (
        "restore-to-directory",
        ("restore", "--year", "2026", "--to", "adir"),
        "DatabaseError",
        "adir",
    ),
    (
        "restore-future-manifest",
        ("restore", "future-2030", "--store", "future-manifest"),
        "FormatVersionError",
        "format version 99",
    ),
    (
        "restore-newer-engine",
        ("restore", "newer-2026", "--store", "newer-engine"),
        "EngineVersionError",
        "-m pip install 'duckdb==9.9.0'",
    ),
    (
        "restore-foreign-store",
        ("restore", "--year", "2026", "--store", "notastore"),
        "StoreError",
        "not a navsnap store",
    ),
    (
        "restore-year-mismatch",
        ("restore", "{run}-2025", "--year", "2026"),
        "UsageError",
        "not 2026",
    ),
    (
        "restore-into-read-only-dir",
        ("restore", "--year", "2026", "--to", "ro/copy.duckdb"),
        "DatabaseError",
        "Read-only file system",
    ),
    (
        "restore-damaged-tag",
        ("restore", "gold", "--store", "damaged-tag", "--to", "x.duckdb"),
        "IntegrityError",
        "tags/gold.json",
    ),
    *[
        (
            f"{name}-tag-naming-a-path",
            (*argv, "--store", "path-tag"),
            "IntegrityError",
            "tags/bad.json",
        )
        for name, argv in (
            ("show", ("show", "bad")),
            ("restore", ("restore", "bad", "--to", "x.duckdb")),
            ("diff", ("diff", "bad", "{run}-2025")),
        )
    ],
    (
        "restore-hostile-object-key",
        ("restore", "{run}-2026", "--store", "hostile-key", "--to", "x.duckdb"),
        "IntegrityError",
        "partitions[0].object.key",
    ),
    # a manifest with a malformed column type: refused naming the field, never "internal error"
    *[
        (f"{name}-malformed-column-type", (*argv, "--store", "bad-type"), "IntegrityError", FIELD)
        for name, argv in (
            ("sql", ("sql", "{run}-2026", "SELECT 1")),
            ("attach", ("attach", "{run}-2026", "--out", "a.duckdb")),
            ("show", ("show", "{run}-2026")),
            ("diff", ("diff", "{run}-2025", "{run}-2026")),
            ("restore", ("restore", "{run}-2026")),
            ("restore-to", ("restore", "{run}-2026", "--to", "x.duckdb")),
        )
    ],
    # checkpoint
    ("checkpoint-no-year", ("checkpoint",), "click", "--year"),
    (
        "checkpoint-missing-db",
        ("checkpoint", "--year", "2026", "--db", "nope.duckdb"),
        "DatabaseError",
        "does not exist",
    ),
    (
        "checkpoint-db-directory",
        ("checkpoint", "--year", "2026", "--db", "adir"),
        "DatabaseError",
        "is a directory",
    ),
    (
        "checkpoint-existing-snapshot",
        ("checkpoint", "--year", "2026", "--run", "{run}"),
        "StoreError",
        "already exists",
    ),
    *[
        (
            f"checkpoint-run-id-{name}",
            ("checkpoint", "--year", "2026", "--run", run),
            "UsageError",
            "is not allowed",
        )
        for name, run in (("dotdot", "../evil"), ("slash", "a/b"), ("at", "q@2025"))
    ],
    (
        "checkpoint-read-only-store",
        ("checkpoint", "--year", "2026", "--store", "ro/store"),
        "StoreError",
        "Read-only file system",
    ),
    (
        "checkpoint-not-a-database",
        ("checkpoint", "--year", "2026", "--db", "bad.toml"),
        "DatabaseError",
        "cannot be opened",
    ),
    (
        "checkpoint-year-beyond-data",
        ("checkpoint", "--year", "2031"),
        "UsageError",
        "hold no rows for 2031",
    ),
    (
        "checkpoint-year-not-newest",
        ("checkpoint", "--year", "2025"),
        "UsageError",
        "not the newest year",
    ),
    (
        "checkpoint-no-configuration",
        ("checkpoint", "--year", "2026", "--store", "adir"),
        "ConfigError",
        "no configuration for database",
    ),
    # list, show, status
    ("list-future-store", ("list", "--store", "future-store"), "FormatVersionError", "version"),
    ("list-store-scheme", ("list", "--store", "ftp2://x"), "StoreError", "unknown store scheme"),
    ("show-unknown", ("show", "nosuch"), "SnapshotNotFound", "nosuch"),
    ("show-ambiguous", ("show", "{run}"), "SnapshotNotFound", "ambiguous"),
    # a run with --year it has no snapshot of was called ambiguous, --year given or not
    (
        "show-run-lacks-year",
        ("show", "{run}", "--year", "2029"),
        "SnapshotNotFound",
        "of year 2029",
    ),
    (
        "show-future-manifest",
        ("show", "future-2030", "--store", "future-manifest"),
        "FormatVersionError",
        "upgrade navsnap",
    ),
    ("status-years-reversed", ("status", "--years", "2029-2025"), "UsageError", "backwards"),
    # verify, diff, prune, tag, untag
    ("verify-sample-zero", ("verify", "--sample", "0"), "click", "--sample"),
    ("verify-all-and-id", ("verify", "--all", "{run}-2025"), "click", "not both"),
    ("verify-unknown", ("verify", "nosuch"), "SnapshotNotFound", "nosuch"),
    ("verify-foreign-store", ("verify", "--store", "notastore"), "StoreError", "not a navsnap"),
    ("diff-one-argument", ("diff", "{run}-2025"), "click", "Missing argument"),
    ("diff-unknown", ("diff", "nosuch", "{run}-2025"), "SnapshotNotFound", "nosuch"),
    ("prune-years-text", ("prune", "--keep-years", "abc"), "click", "--keep-years"),
    ("prune-size-text", ("prune", "--max-size", "lots"), "UsageError", "not understood"),
    ("prune-negative", ("prune", "--keep-last", "-1"), "click", "--keep-last"),
    (
        "prune-read-only-store",
        ("prune", "--store", "ro/store"),
        "StoreError",
        "Read-only file system",
    ),
    ("tag-bad-name", ("tag", "{run}-2025", "../evil"), "UsageError", "not allowed"),
    ("tag-unknown-snapshot", ("tag", "nosuch", "t1"), "SnapshotNotFound", "nosuch"),
    (
        "tag-read-only-store",
        ("tag", "{run}-2025", "t1", "--store", "ro/store"),
        "StoreError",
        "Read-only file system",
    ),
    ("untag-unknown", ("untag", "nosuch"), "SnapshotNotFound", "no tag"),
    ("unlock-store-scheme", ("unlock", "--store", "ftp2://x"), "StoreError", "unknown store"),
    (
        "diff-exit-code-unknown",
        ("diff", "--exit-code", "nosuch", "{run}-2025"),
        "SnapshotNotFound",
        "nosuch",
    ),
    # one store, two databases, chains (#11): selections never take another database's
    (
        "restore-year-of-another-database",
        ("restore", "--year", "2027"),
        "SnapshotNotFound",
        "database other has one",
    ),
    (
        "show-latest-year-of-another-database",
        ("show", "latest@2027"),
        "SnapshotNotFound",
        "database other has one",
    ),
    (
        "sql-latest-year-of-another-database",
        ("sql", "latest@2027", "SELECT 1"),
        "SnapshotNotFound",
        "database other has one",
    ),
    (
        "run-from-snapshot-year-of-another-database",
        ("run", *STEP, "--years", "2028-2028", "--from-snapshot", "2027"),
        "SnapshotNotFound",
        "database other has one",
    ),
    (
        "run-from-snapshot-ref-wrong-year",
        ("run", *STEP, "--years", "2027-2027", "--from-snapshot", "{run}-2025"),
        "UsageError",
        "not of 2026",
    ),
    (
        "run-resume-over-a-fork",
        ("run", *STEP, "--years", "2025-2028", "--resume", "--db", "forked/simulation.duckdb"),
        "ChainError",
        "not on a chain of this configuration",
    ),
    (
        "run-resume-would-drop-later-years",
        ("run", *STEP, "--years", "2025-2029", "--resume", "--db", "ahead/simulation.duckdb"),
        "ChainError",
        "years up to 2029",
    ),
    (
        "status-over-a-fork",
        ("status", *STEP, "--years", "2025-2028", "--db", "forked/simulation.duckdb"),
        "ChainError",
        "not on a chain of this configuration",
    ),
    ("show-nothing-named", ("show",), "UsageError", "say which snapshot"),
    (
        "show-ref-and-year-disagree",
        ("show", "latest@2025", "--year", "2026"),
        "UsageError",
        "disagree",
    ),
    ("show-ref-bad-year", ("show", "latest@next"), "UsageError", "@YEAR"),
    ("tag-reserved-latest", ("tag", "{run}-2025", "latest"), "UsageError", "reserved"),
    # a tag named like a run would answer that run's RUN@YEAR with the snapshot it pins
    ("tag-named-like-a-run", ("tag", "{run}-2025", "{run}"), "UsageError", "shape of a run id"),
    (
        "tag-named-like-a-snapshot",
        ("tag", "{run}-2025", "20261202T020505Z-44f9-2026"),
        "UsageError",
        "RUN@YEAR",
    ),
    (
        "tag-named-like-another-run",
        ("tag", "{run}-2025", "20261202T020505Z-44f9"),
        "UsageError",
        "snapshot id",
    ),
    (
        "diff-run-year-mismatch",
        ("diff", "{run}-2025", "{run}", "--year", "2026"),
        "UsageError",
        "not 2026",
    ),
    ("prune-keep-within-text", ("prune", "--keep-within", "soon"), "UsageError", "not understood"),
    ("prune-group-by-unknown", ("prune", "--group-by", "planet"), "click", "--group-by"),
    ("list-year-text", ("list", "--year", "x"), "click", "--year"),
    # info, completion
    ("info-store-scheme", ("info", "--store", "ftp2://x"), "StoreError", "unknown store scheme"),
    ("info-foreign-store", ("info", "--store", "notastore"), "StoreError", "not a navsnap"),
    ("info-future-store", ("info", "--store", "future-store"), "FormatVersionError", "version"),
    ("unlock-store-scheme", ("unlock", "--store", "ftp2://x"), "StoreError", "unknown store"),
    ("completion-unknown-shell", ("completion", "tcsh"), "click", "tcsh"),
    ("completion-no-shell", ("completion",), "click", "Missing argument"),
    # global options after the subcommand; errors under --json (stderr keeps its one line)
    ("global-option-typo-after", ("restore", "--year", "2026", "--debgu"), "click", "--debgu"),
    ("restore-unknown-json", ("restore", "nosuch", "--json"), "SnapshotNotFound", "nosuch"),
    ("list-store-scheme-json", ("--json", "list", "--store", "ftp2://x"), "StoreError", "ftp2"),
    ("command-unknown", ("nosuch",), "click", "No such command"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A working directory: a database with snapshots of 2025-2026 beside it, and props.

    The store also holds snapshots 2025-2027 of another database, ``other``."""
    root = tmp_path_factory.mktemp("bad-input") / "w"
    root.mkdir()
    cfg = load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)
    report = navsnap.run(cfg, db=root / "simulation.duckdb", years=(2025, 2026))
    store = root / "snapshots"
    (root / "bad.toml").write_text("[run\n")
    (root / "binary.toml").write_bytes(b"\xff\xfe\x00[run]\x80\x81")
    (root / "cfgdir").mkdir()
    (root / "wrongtype.toml").write_text('[simulation]\nemployees = "many"\n')
    (root / "unknown.toml").write_text("[run]\ncolour = 'red'\n")
    (root / "backwards.toml").write_text('[run]\nyears = "2029-2025"\n')
    (root / "inputs-dot.toml").write_text('[inputs]\nfiles = ["."]\n')
    (root / "model").mkdir()
    (root / "model" / "year.sql").write_text("select 1")
    (root / "inputs-model.toml").write_text('[inputs]\nfiles = ["model"]\n')
    (root / "inputs-empty.toml").write_text('[inputs]\nfiles = [""]\n')
    (root / "inputs-device.toml").write_text('[inputs]\nfiles = ["/dev/null"]\n')
    (root / "adir").mkdir()
    (root / "notastore").mkdir()
    (root / "notastore" / "holiday.jpg").write_bytes(b"\xff\xd8 not a store")
    (root / "future-store").mkdir()
    (root / "future-store" / "navsnap-store.json").write_text(
        json.dumps({"format": "navsnap-store", "version": 99})
    )
    shutil.copytree(store, root / "future-manifest")
    shutil.copytree(store, root / "damaged-tag")
    (root / "damaged-tag" / "tags").mkdir(exist_ok=True)
    (root / "damaged-tag" / "tags" / "gold.json").write_text('{"snapshot_id": ')
    shutil.copytree(store, root / "path-tag")
    (root / "path-tag" / "tags").mkdir(exist_ok=True)
    (root / "path-tag" / "tags" / "bad.json").write_text('{"snapshot_id": "../../../etc/passwd"}')
    shutil.copytree(store, root / "hostile-key")
    hostile = next((root / "hostile-key" / "manifests").glob("*-2026.json"))
    doc = json.loads(hostile.read_text())
    doc["tables"][0]["partitions"][0]["object"]["key"] = "objects/../../../outside.parquet"
    doc.pop("integrity")
    doc["integrity"] = hash_bytes(canonical_json(doc))  # what any writer can recompute
    hostile.write_text(json.dumps(doc, indent=2, sort_keys=True))
    shutil.copytree(store, root / "bad-type")
    forged = next((root / "bad-type" / "manifests").glob("*-2026.json"))
    doc = json.loads(forged.read_text())
    doc["tables"][0]["columns"][0][1] = "NOT A TYPE((("
    doc.pop("integrity")
    doc["integrity"] = hash_bytes(canonical_json(doc))
    forged.write_text(json.dumps(doc, indent=2, sort_keys=True))
    newest = json.loads(next((store / "manifests").glob("*-2026.json")).read_text())
    newest.update(format_version=99, snapshot_id="future-2030", run_id="future", year=2030)
    (root / "future-manifest" / "manifests" / "future-2030.json").write_text(
        json.dumps(newest, indent=2, sort_keys=True)
    )
    shutil.copytree(store, root / "newer-engine")
    taken = Manifest.from_json(next((store / "manifests").glob("*-2026.json")).read_bytes())
    newer = replace(taken, snapshot_id="newer-2026", run_id="newer", duckdb_version="9.9.0")
    (root / "newer-engine" / "manifests" / "newer-2026.json").write_bytes(newer.to_json())
    # Another database in the same store, one year further (#11).
    (root / "elsewhere").mkdir()
    navsnap.run(cfg, db=root / "elsewhere" / "other.duckdb", years=(2025, 2027), store=store)
    # forked/: a database at the end of a fork (another step, other 2027 rows) of its 2026.
    (root / "forked").mkdir()
    base = navsnap.run(cfg, db=root / "forked" / "simulation.duckdb", years=(2025, 2026))
    fork = load_config(overrides={"run.step": "rollback_pipeline:step"}, search_cwd=False)
    navsnap.run(
        fork,
        db=root / "forked" / "simulation.duckdb",
        years=(2027, 2027),
        from_snapshot=f"{base.run_id}-2026",
    )
    # ahead/: a database at 2029 whose store keeps only 2025-2026 (the rest pruned away).
    (root / "ahead").mkdir()
    ahead = navsnap.run(cfg, db=root / "ahead" / "simulation.duckdb", years=(2025, 2029))
    for year in (2027, 2028, 2029):
        (root / "ahead" / "snapshots" / "manifests" / f"{ahead.run_id}-{year}.json").unlink()
    return root, report.run_id


@pytest.fixture
def workdir(prepared: tuple[Path, str], tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root, run_id = prepared
    cwd = tmp_path / "w"
    shutil.copytree(root, cwd)
    yield cwd, run_id
    if (cwd / "ro").is_mount():
        subprocess.run(["umount", str(cwd / "ro")], check=False)


def read_only_store(cwd: Path) -> None:
    """``ro/``: a read-only mount holding a copy of the store (root ignores file modes)."""
    ro = cwd / "ro"
    ro.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(ro)], capture_output=True
    )
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needed for a read-only store)")
    shutil.copytree(cwd / "snapshots", ro / "store")
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)


def unchanged_view(cwd: Path) -> dict[str, bytes]:
    """Every file under ``cwd`` but lock files (which record who last held a lock)."""
    return {
        k: v
        for k, v in tree_bytes(cwd).items()
        if not (k.endswith(".lock") or k.endswith(".lock.json"))
    }


@pytest.mark.parametrize(
    ("args", "error", "needle"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(
    workdir: tuple[Path, str], args: tuple[str, ...], error: str, needle: str
) -> None:
    cwd, run_id = workdir
    if any(a.startswith("ro/") for a in args):
        read_only_store(cwd)
    argv = [a.replace("{run}", run_id) for a in args]
    before = unchanged_view(cwd)

    res = invoke_at(*argv, cwd=cwd)

    code = documented_codes()[error]
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert lines[0].startswith("navsnap: error: ")
    assert needle in lines[0], lines[0]
    assert unchanged_view(cwd) == before, "a bad input changed files"


def test_the_catalogue_is_big_and_covers_every_command() -> None:
    assert len(CASES) >= 30
    commands = {c[1][0] for c in CASES}
    from navsnap.cli import cli

    assert set(cli.commands) <= commands | {"nosuch"}
