"""Kill anywhere: SIGKILL ``run``, ``checkpoint``, ``restore`` and ``prune`` at every named
fault point they reach (several occurrences each) and at random moments, then prove that

* ``navsnap verify --all`` passes: no manifest points at a missing or corrupt object
  (unreferenced objects younger than verify's grace period are reported, not failures);
* the database is at a year boundary, or missing/mid-year and then restorable;
* an interrupted restore, run again, gives the snapshot's tables; an interrupted prune, run
  again, finishes; and ``run --resume`` ends with exactly the tables of an uninterrupted run.

The kills are real: the CLI in a process of its own (forked from a server that imported
navsnap once, :func:`conftest.fork_cli`), killed by ``NAVSNAP_FAULT`` (:mod:`navsnap.faults`);
the timed kills (``python -m navsnap`` killed with ``SIGKILL`` from here after a seeded random
delay) are marked ``soak``: ``pytest -m soak`` runs them, the default suite leaves them to
``scripts/soak.py``, which reuses this harness for hundreds of kills. Each case asserts that
the process died of SIGKILL, so every case is one counted kill.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import duckdb
import pytest
from conftest import TESTS, TOY_STEP, fork_cli, pythonpath, run_cli, table_fingerprints

import navsnap
from navsnap.cli import main as cli_main
from navsnap.config import Config, load_config
from navsnap.faults import POINTS
from navsnap.retention import RetentionPolicy

YEARS = (2025, 2029)
SPAN = f"{YEARS[0]}-{YEARS[1]}"
TOY = ("--step", TOY_STEP)
DB = "sim.duckdb"
STORE = "store"
WHERE = ("--db", DB, "--store", STORE)
#: The prune policy of the prune cases (the golden "prune" state has one older run to drop).
PRUNE_ARGS = ("prune", "--keep-runs", "1", "--grace-minutes", "0", *WHERE)
PRUNE_POLICY = RetentionPolicy(keep_runs=1)

Fingerprints = dict[str, tuple[int, str]]


def toy_config() -> Config:
    return load_config(overrides={"run.step": TOY_STEP}, search_cwd=False)


def sim_config(employees: int) -> Config:
    return load_config(overrides={"simulation.employees": employees}, search_cwd=False)


# --------------------------------------------------------------------------- the cases


@dataclass(frozen=True)
class Case:
    """One kill: copy golden state ``state``, run ``args`` with ``NAVSNAP_FAULT=fault``."""

    state: str
    args: tuple[str, ...]
    fault: str
    #: How to recover and what to check: "resume", "restore:<year>", "prune".
    recover: str = "resume"
    #: Database states acceptable right after the kill (None: any that then recovers).
    allowed: frozenset[str] | None = None
    #: The years the run and its recovery cover (the resumed tables must equal an
    #: uninterrupted run of exactly these years).
    years: tuple[int, int] = YEARS

    @property
    def id(self) -> str:
        mode = "-file" if "file" in self.args else ""
        return f"{self.state}-{self.args[0]}{mode}-{self.fault}"


def _run(*extra: str, last: int = YEARS[1]) -> tuple[str, ...]:
    return ("run", "--years", f"{YEARS[0]}-{last}", *TOY, *WHERE, *extra)


#: Toy partition writes done by the end of each year of a fresh run (4, then 2 a year).
WRITES_BY_YEAR = (4, 6, 8, 10, 12)
PER_WRITE = ("after-parquet-write", "before-object-publish", "after-object-publish")


def kill_year(point: str, nth: int) -> int:
    """The year in which a fresh toy run reaches ``point`` for the ``nth`` time."""
    if point in PER_WRITE:
        return YEARS[0] + next(i for i, done in enumerate(WRITES_BY_YEAR) if done >= nth)
    return YEARS[0] + nth - 1  # before-/after-manifest, after-step: once a year


def fresh_run_case(point: str, nth: int) -> Case:
    """A fresh run killed at ``point@nth`` that stops one year after the killed year: the
    resume redoes the killed year and goes on past it, as from the last year of 5, at a
    fraction of the cost of 5 years when the kill comes early."""
    last = min(kill_year(point, nth) + 1, YEARS[1])
    return Case("empty", _run(last=last), f"{point}@{nth}", years=(YEARS[0], last))


RESTORED_2026 = frozenset({"end of 2029", "end of 2026"})
AT_2029 = frozenset({"end of 2029", "missing"})
#: A delta restore commits in one transaction: the file is as tampered, or restored.
TAMPERED = frozenset({"mid-year", "end of 2029"})
AT_END_2029 = frozenset({"end of 2029"})


def named_cases() -> list[Case]:
    """Every fault point each command reaches, at several occurrences."""
    cases: list[Case] = []
    nths: tuple[int, ...]
    # A fresh run (toy: 4 partitions the first year, 2 new ones each later year: 12 writes).
    for point, nths in (
        ("after-parquet-write", (1, 2, 4, 5, 8, 12)),
        ("before-object-publish", (1, 3, 6, 11)),
        ("after-object-publish", (1, 4, 7, 12)),
        ("before-manifest", (1, 2, 3, 5)),
        ("after-manifest", (1, 3, 5)),
        ("after-step", (1, 2, 4, 5)),
    ):
        cases += [fresh_run_case(point, n) for n in nths]
    # --resume after a crash in 2027 (the file and its .wal hold an unsnapshotted year, and
    # the sequence moved on): a full restore that moves both aside, then the years again.
    for point, nths in (
        ("restore-after-load", (1,)),
        ("restore-before-swap", (1,)),
        ("restore-after-move-aside", (1, 2)),
        ("restore-after-swap", (1,)),
        ("after-parquet-write", (1, 3)),
        ("after-object-publish", (2,)),
        ("before-manifest", (1, 3)),
        ("after-step", (1, 2)),
    ):
        cases += [Case("interrupted", _run("--resume"), f"{point}@{n}") for n in nths]
    # --resume when 2029's rows were changed by hand: a delta restore of 2029.
    cases.append(Case("tampered", _run("--resume"), "delta-mid-transaction@1"))
    cases.append(Case("tampered", _run("--resume"), "delta-after-commit@1"))
    # --resume over a garbage database file: a full restore of 2027 that moves it aside.
    for point in ("restore-after-load", "restore-after-move-aside", "restore-after-swap"):
        cases.append(Case("lost", _run("--resume"), f"{point}@1"))
    # restore: delta (live file at 2029), full (a .wal with a foreign view), --to, file mode.
    restore_2026 = ("restore", "--year", "2026", *WHERE)
    restore_2029 = ("restore", "--year", "2029", *WHERE)
    cases.append(
        Case("tampered", restore_2029, "delta-mid-transaction@1", "restore:2029", TAMPERED)
    )
    # Killed after the commit (which checkpointed) and before the CHECKPOINT: restored.
    cases.append(
        Case("tampered", restore_2029, "delta-after-commit@1", "restore:2029", AT_END_2029)
    )
    for fault, allowed in (
        ("restore-after-load@1", RESTORED_2026),
        ("restore-before-swap@1", RESTORED_2026),
        # The old file is linked aside, so the target keeps the old database until the
        # atomic rename; @2 is after its .wal was removed from the target path.
        ("restore-after-move-aside@1", frozenset({"end of 2029"})),
        ("restore-after-move-aside@2", frozenset({"end of 2029"})),
        ("restore-after-swap@1", frozenset({"end of 2026"})),
    ):
        cases.append(Case("walview", restore_2026, fault, "restore:2026", allowed))
    to = (*restore_2026, "--to", "copy.duckdb")
    for fault in ("restore-after-load@1", "restore-before-swap@1", "restore-after-swap@1"):
        cases.append(Case("complete", to, fault, "restore-to:2026", frozenset({"end of 2029"})))
    restore_file = ("restore", "filerun-2029", *WHERE)
    for fault in ("restore-before-swap@1", "restore-after-move-aside@1", "restore-after-swap@1"):
        cases.append(Case("filemode", restore_file, fault, "restore:2029", AT_2029))
    # checkpoint: into a new store (every partition written; no snapshot of the database
    # there to inherit the configuration from, so the step is given) and whole-file mode.
    ckpt = ("checkpoint", "--year", "2029", *TOY, "--db", DB, "--store", "store2")
    for fault in (
        "after-parquet-write@1",
        "after-parquet-write@9",
        "before-object-publish@5",
        "after-object-publish@12",
        "before-manifest@1",
        "after-manifest@1",
    ):
        cases.append(Case("complete", ckpt, fault, "resume", frozenset({"end of 2029"})))
    ckpt_file = ("checkpoint", "--year", "2029", "--run", "f", "--mode", "file", *WHERE)
    for fault in ("file-copy-mid@1", "before-manifest@1", "after-manifest@1"):
        cases.append(Case("complete", ckpt_file, fault, "resume", frozenset({"end of 2029"})))
    # The hot tier (#16): a fresh run with --hot 2 killed while a year's copy is staged or
    # published (once a year each); restores of 2028 from its copy, killed around the swap.
    for point, nths in (
        ("hot-after-stage", (1, 3)),
        ("hot-before-publish", (2,)),
        ("hot-after-publish", (1, 4)),
    ):
        for n in nths:
            last = min(kill_year(point, n) + 1, YEARS[1])
            run_hot = _run("--hot", "2", last=last)
            cases.append(Case("empty", run_hot, f"{point}@{n}", years=(YEARS[0], last)))
    restore_hot = ("restore", "--year", "2028", *WHERE)
    for fault, allowed in (
        ("restore-before-swap@1", frozenset({"end of 2029"})),
        ("restore-after-move-aside@2", frozenset({"end of 2029"})),
        ("restore-after-swap@1", frozenset({"end of 2028"})),
    ):
        cases.append(Case("hot", restore_hot, fault, "restore:2028", allowed))
    # prune: manifests of the older run first, then its objects.
    for fault in (
        "prune-after-manifest-delete@1",
        "prune-mid-objects@1",
        "prune-mid-objects@4",
        "prune-mid-objects@9",
    ):
        cases.append(Case("prune", PRUNE_ARGS, fault, "prune", frozenset({"end of 2029"})))
    return cases


NAMED = named_cases()

#: Timed kills of the built-in simulation (seeded delays; the soak runs many more).
TIMED_SEED = 7
TIMED_KILLS = 6
SIM_EMPLOYEES = 1500


# --------------------------------------------------------------------------- golden states


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    res = run_cli(*args, cwd=cwd, env=env)
    if res.returncode != 0:
        raise AssertionError(f"navsnap {' '.join(args)} -> {res.returncode}: {res.stderr}")


def _write_wal_with_view(db: Path) -> None:
    """Leave a .wal holding an uncheckpointed CREATE VIEW (the process dies before CHECKPOINT)."""
    code = (
        "import duckdb, os, sys; c = duckdb.connect(sys.argv[1]);"
        " c.execute('SET checkpoint_threshold = \\'1GB\\'');"
        " c.execute('CREATE VIEW foreign_view AS SELECT 42 AS x'); os._exit(0)"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=True)
    assert db.with_name(db.name + ".wal").exists()


def build_golden(root: Path) -> dict[str, Path]:
    """Every starting state, built once; each case works on a copy."""
    states: dict[str, Path] = {}
    cfg = toy_config()

    empty = root / "empty"
    empty.mkdir()
    states["empty"] = empty

    complete = root / "complete"
    complete.mkdir()
    navsnap.run(cfg, db=complete / DB, years=YEARS, store=str(complete / STORE))
    states["complete"] = complete

    interrupted = root / "interrupted"
    interrupted.mkdir()
    res = fork_cli(*_run(), cwd=interrupted, env={"NAVSNAP_FAULT": "after-step@3"})
    assert res.returncode == -signal.SIGKILL, res.stderr
    states["interrupted"] = interrupted

    tampered = root / "tampered"
    shutil.copytree(complete, tampered)
    con = duckdb.connect(str(tampered / DB))
    con.execute("UPDATE yearly SET pay = 0 WHERE simulation_year = 2029")
    con.close()
    states["tampered"] = tampered

    lost = root / "lost"
    lost.mkdir()
    navsnap.run(cfg, db=lost / DB, years=(2025, 2027), store=str(lost / STORE))
    (lost / DB).write_bytes(b"this is not a duckdb file\n" * 100)
    states["lost"] = lost

    walview = root / "walview"
    shutil.copytree(complete, walview)
    _write_wal_with_view(walview / DB)
    states["walview"] = walview

    filemode = root / "filemode"
    shutil.copytree(complete, filemode)
    navsnap.checkpoint(
        db=filemode / DB, year=2029, store=filemode / STORE, config=cfg, run_id="filerun",
        mode="file",
    )  # fmt: skip
    states["filemode"] = filemode

    hot = root / "hot"
    hot.mkdir()
    hot_cfg = load_config(overrides={"run.step": TOY_STEP, "snapshot.hot": 2}, search_cwd=False)
    navsnap.run(hot_cfg, db=hot / DB, years=YEARS, store=str(hot / STORE))
    states["hot"] = hot

    # prune: an older run whose data differs (so dropping it leaves unreferenced objects),
    # then the toy run proper, which is the newest run and stays.
    prune = root / "prune"
    prune.mkdir()
    # The same database (its file name) in another folder: prune groups by database (#11).
    (root / "old").mkdir()
    old = root / "old" / DB
    navsnap.run(cfg, db=old, years=YEARS, snapshots=False)
    con = duckdb.connect(str(old))
    con.execute("UPDATE yearly SET pay = pay + 1")
    con.execute("UPDATE audit.log SET msg = 'old'")
    con.close()
    navsnap.checkpoint(db=old, year=2029, store=prune / STORE, config=cfg, run_id="older")
    time.sleep(0.01)
    navsnap.run(cfg, db=prune / DB, years=YEARS, store=str(prune / STORE))
    states["prune"] = prune
    return states


def reference_fingerprints(root: Path, config: Config) -> dict[int, Fingerprints]:
    """The tables of an uninterrupted run ending at each year."""
    refs: dict[int, Fingerprints] = {}
    for last in range(YEARS[0], YEARS[1] + 1):
        db = root / f"ref-{last}.duckdb"
        navsnap.run(config, db=db, years=(YEARS[0], last), snapshots=False)
        refs[last] = table_fingerprints(db)
    return refs


# --------------------------------------------------------------------------- checks


def verify_all(cwd: Path, store: str = STORE) -> tuple[int, str]:
    """``navsnap verify --all`` through the CLI entry point, in-process (same exit codes)."""
    out, err = StringIO(), StringIO()
    code = 0
    old = Path.cwd()
    os.chdir(cwd)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            cli_main(["verify", "--all", "--store", store, "--db", DB])
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        os.chdir(old)
    return code, out.getvalue() + err.getvalue()


def check_store(cwd: Path, store: str = STORE) -> str:
    """verify --all must pass; return a short description of what it saw."""
    if not (cwd / store / "navsnap-store.json").exists():
        assert not (cwd / store / "manifests").exists(), "manifests in a store with no marker"
        return "no store yet"
    code, text = verify_all(cwd, store)
    # Exit 14 would mean a manifest points at a missing/corrupt object, or an orphan older
    # than verify's grace period (none can be that old here): both are failures.
    assert code == 0, f"verify --all exit {code} after the kill:\n{text}"
    pending = next((ln for ln in text.splitlines() if "unreferenced object" in ln), "")
    n = int(pending.split()[0]) if pending else 0
    return f"verify ok ({n} young orphan(s))"


def db_state(db: Path, refs: dict[int, Fingerprints]) -> str:
    """'missing', 'unopenable', 'end of <year>' or 'mid-year' (opened read-only: unchanged)."""
    if not db.exists():
        return "missing"
    try:
        got = table_fingerprints(db)
    except duckdb.Error:
        return "unopenable"
    for year, want in refs.items():
        if got == want:
            return f"end of {year}"
    return "mid-year" if got else "empty"


def leftovers(cwd: Path) -> list[str]:
    """Temporary files of dead restores beside the database."""
    return sorted(p.name for p in cwd.glob(f".{DB}.navsnap-restore-*"))


def resume(
    cwd: Path, config: Config, refs: dict[int, Fingerprints], years: tuple[int, int] = YEARS
) -> str:
    report = navsnap.run(config, db=cwd / DB, years=years, store=str(cwd / STORE), resume=True)
    assert table_fingerprints(cwd / DB) == refs[years[1]], "resumed run differs"
    assert report.decision is not None
    return f"resume {report.decision.action}"


def recover(case: Case, cwd: Path, refs: dict[int, Fingerprints]) -> str:
    cfg = toy_config()
    kind, _, arg = case.recover.partition(":")
    notes = []
    if kind == "restore":
        navsnap.restore(store=cwd / STORE, db=cwd / DB, year=int(arg))
        assert table_fingerprints(cwd / DB) == refs[int(arg)], "repeated restore differs"
        notes.append("restore again ok")
    elif kind == "restore-to":
        navsnap.restore(store=cwd / STORE, db=cwd / DB, year=int(arg), to=cwd / "copy.duckdb")
        assert table_fingerprints(cwd / "copy.duckdb") == refs[int(arg)]
        notes.append("restore --to again ok")
    elif kind == "prune":
        report = navsnap.prune(cwd / STORE, policy=PRUNE_POLICY, grace_minutes=0)
        assert [m.startswith("older") for m in report.removed_manifests] == [
            True for _ in report.removed_manifests
        ]
        snaps, broken = navsnap.list_snapshots(cwd / STORE)
        assert not broken and {s.run_id for s in snaps} != {"older"}
        assert all(s.run_id != "older" for s in snaps), "prune again left the older run"
        notes.append("prune again ok")
        check_store(cwd)
    notes.append(resume(cwd, cfg, refs, case.years))
    assert not leftovers(cwd), f"restore temporaries left behind: {leftovers(cwd)}"
    notes.append(check_store(cwd))
    return "; ".join(notes)


# --------------------------------------------------------------------------- fixtures


@dataclass
class Harness:
    golden: dict[str, Path]
    refs: dict[int, Fingerprints]
    sim_ref: Callable[[], Fingerprints]
    sim_seconds: Callable[[], float]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    root = tmp_path_factory.mktemp("crash-golden")
    golden = build_golden(root)
    refs = reference_fingerprints(root, toy_config())
    cache: dict[str, object] = {}

    def sim_ref() -> Fingerprints:
        if "ref" not in cache:
            db = root / "sim-ref.duckdb"
            navsnap.run(sim_config(SIM_EMPLOYEES), db=db, years=YEARS, snapshots=False)
            cache["ref"] = table_fingerprints(db)
        return cache["ref"]  # type: ignore[return-value]

    def sim_seconds() -> float:
        if "seconds" not in cache:
            d = root / "sim-timing"
            d.mkdir()
            t0 = time.monotonic()
            _cli("run", "--years", SPAN, "--employees", str(SIM_EMPLOYEES), *WHERE, cwd=d)
            cache["seconds"] = time.monotonic() - t0
        return cache["seconds"]  # type: ignore[return-value]

    yield Harness(golden, refs, sim_ref, sim_seconds)


def prepare(harness: Harness, case: Case, tmp_path: Path) -> Path:
    cwd = tmp_path / "w"
    shutil.copytree(harness.golden[case.state], cwd)
    return cwd


def run_named_case(harness: Harness, case: Case, tmp_path: Path) -> tuple[str, str, str]:
    """Kill at ``case.fault`` and check everything; (db state, store, recovery)."""
    cwd = prepare(harness, case, tmp_path)
    killed = fork_cli(*case.args, cwd=cwd, env={"NAVSNAP_FAULT": case.fault})
    assert killed.returncode == -signal.SIGKILL, (
        f"{case.id}: not killed (exit {killed.returncode}); is the point still reached?\n"
        f"{killed.stderr}"
    )
    state = db_state(cwd / DB, harness.refs)
    if case.allowed is not None:
        assert state in case.allowed, f"{case.id}: database is {state} after the kill"
    store = check_store(cwd)
    if case.args[0] == "checkpoint" and "store2" in case.args:
        store += "; store2 " + check_store(cwd, "store2")
    return state, store, recover(case, cwd, harness.refs)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", NAMED, ids=[c.id for c in NAMED])
def test_kill_at_named_point(harness: Harness, case: Case, tmp_path: Path) -> None:
    run_named_case(harness, case, tmp_path)


def timed_delays(seed: int, count: int, seconds: float) -> list[float]:
    """Seeded delays spread over the run (python start-up included)."""
    rng = random.Random(seed)
    return [round(rng.uniform(0.8, max(0.9, seconds * 0.85)), 3) for _ in range(count)]


#: Where a timed run stops (SIGSTOP) if the kill has not landed yet: just before the last
#: year's manifest. The run cannot finish before its kill, however fast or slow the machine.
STALL = f"before-manifest@{YEARS[1] - YEARS[0] + 1}:stall"


def kill_run_after(
    cwd: Path,
    delay: float,
    *,
    employees: int,
    resume: bool,
    exit_timeout: float,
    stall: bool = False,
) -> tuple[int, str]:
    """Start a built-in simulation ``run`` (``--resume`` if asked) in ``cwd`` and SIGKILL it
    after ``delay`` s unless it ended first; its return code and stderr. With ``stall`` the
    run stops before its last manifest, so the kill always lands (at the latest there)."""
    env = {**os.environ, "PYTHONPATH": pythonpath(TESTS)}
    if stall:
        env["NAVSNAP_FAULT"] = STALL
    args = ["run", "--years", SPAN, "--employees", str(employees), *WHERE]
    if resume:
        args.append("--resume")
    proc = subprocess.Popen(
        [sys.executable, "-m", "navsnap", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=exit_timeout)
    return proc.returncode, err.decode()


def run_timed_case(
    cwd: Path, delay: float, *, employees: int, ref: Fingerprints, resume_first: bool = False
) -> tuple[bool, str, str, str]:
    """Start a built-in simulation run, SIGKILL it after ``delay`` s; check and resume.

    Returns (killed, db state, store, recovery). The run stalls before its last manifest
    (:data:`STALL`), so it is killed whatever the machine's speed: mid-run when the delay is
    short enough, at the stall otherwise.
    """
    returncode, err = kill_run_after(
        cwd, delay, employees=employees, resume=resume_first, exit_timeout=60, stall=True
    )
    killed = returncode == -signal.SIGKILL
    assert killed or returncode == 0, err
    state = "killed" if killed else "finished"
    db = cwd / DB
    if not db.exists():
        state += ", database missing"
    else:
        try:
            con = duckdb.connect(str(db), read_only=True)
            con.close()
            state += ", database opens"
        except duckdb.Error:
            state += ", database unopenable"
    store = check_store(cwd)
    report = navsnap.run(
        sim_config(employees), db=db, years=YEARS, store=str(cwd / STORE), resume=True
    )
    assert table_fingerprints(db) == ref, f"resume after a kill at {delay}s differs"
    assert not leftovers(cwd)
    assert report.decision is not None
    return killed, state, store, f"resume {report.decision.action}; {check_store(cwd)}"


@pytest.mark.soak
@pytest.mark.parametrize("i", range(TIMED_KILLS))
def test_kill_at_a_random_moment(harness: Harness, i: int, tmp_path: Path) -> None:
    delay = timed_delays(TIMED_SEED, TIMED_KILLS, harness.sim_seconds())[i]
    killed, *_ = run_timed_case(tmp_path, delay, employees=SIM_EMPLOYEES, ref=harness.sim_ref())
    assert killed, f"the run was not killed at {delay}s although it stalls before its end"


def test_every_fault_point_is_killed_at_and_the_count() -> None:
    reached = {c.fault.partition("@")[0] for c in NAMED}
    assert reached == set(POINTS), f"fault points without a kill case: {set(POINTS) - reached}"
    # Every case asserts its process died of SIGKILL: this is the exact kill count (the
    # timed kills come on top, in the soak).
    assert len(NAMED) >= 50
    assert len({c.id for c in NAMED}) == len(NAMED)


def test_the_old_file_kept_by_a_restore_opens_with_its_wal(
    harness: Harness, tmp_path: Path
) -> None:
    """The moved-aside file keeps its last commits: its .wal is renamed to '<kept>.wal'."""
    cwd = tmp_path / "w"
    shutil.copytree(harness.golden["walview"], cwd)
    report = navsnap.restore(store=cwd / STORE, db=cwd / DB, year=2026)
    kept = next(Path(p) for p in report.moved_aside if not p.endswith(".wal"))
    assert Path(str(kept) + ".wal") in {Path(p) for p in report.moved_aside}
    con = duckdb.connect(str(kept), read_only=True)
    try:
        assert con.execute("SELECT * FROM foreign_view").fetchall() == [(42,)]
    finally:
        con.close()
    assert table_fingerprints(cwd / DB) == harness.refs[2026]
