"""Deciding how to resume: lineage, verification, drift, and the fast path.

``plan_resume`` never changes anything; ``navsnap status`` prints its decision and
``navsnap run --resume`` carries it out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from navsnap import statcache
from navsnap.config import Config
from navsnap.errors import ChainError, NavsnapError
from navsnap.identity import (
    ambiguous,
    database_name,
    lineage_label,
    snapshots_of,
    undecided_of,
)
from navsnap.index import read_all
from navsnap.integrity import verify_objects
from navsnap.lineage import config_block, drift_error, same_lineage
from navsnap.manifest import Manifest
from navsnap.store import Store

if TYPE_CHECKING:
    from navsnap.restore.actions import RestorePlan

__all__ = ["ResumeDecision", "plan_resume"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResumeDecision:
    """What --resume does: 'continue' (database matches), 'restore', 'start', 'complete'."""

    action: str
    reason: str
    snapshot: Manifest | None = None
    next_year: int | None = None
    restore_strategy: str | None = None
    skipped: tuple[str, ...] = field(default_factory=tuple)
    #: 'start' on an existing database: it is moved aside first.
    moves_aside: bool = False
    #: The last year the run covers (a restore of it completes the run).
    last_year: int | None = None
    #: The restore planned for ``snapshot`` (its live fingerprints): ``run --resume`` carries
    #: it out under the same lock instead of fingerprinting the database again.
    plan: RestorePlan | None = field(default=None, compare=False, repr=False)
    #: The database's match came from the stat cache beside it (:mod:`navsnap.statcache`),
    #: not from fingerprinting it (``status`` only; ``run --resume`` always fingerprints).
    from_cache: bool = False

    def explain(self) -> str:
        if self.action == "start":
            aside = "; the existing database is moved aside first" if self.moves_aside else ""
            return f"no usable snapshot ({self.reason}); starting at {self.next_year}{aside}"
        assert self.snapshot is not None
        if self.action == "complete":
            return f"run already complete at {self.snapshot.year} ({self.snapshot.snapshot_id})"
        if self.action == "continue":
            return (
                f"database matches {self.snapshot.snapshot_id} (end of {self.snapshot.year}); "
                f"continuing with {self.next_year}"
            )
        then = (
            f"run already complete at {self.snapshot.year}"
            if self.last_year is not None and self.snapshot.year >= self.last_year
            else f"then continuing with {self.next_year}"
        )
        return (
            f"restoring {self.snapshot.snapshot_id} (end of {self.snapshot.year}, "
            f"{self.restore_strategy}: {self.reason}); {then}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "snapshot": self.snapshot.snapshot_id if self.snapshot else None,
            "snapshot_year": self.snapshot.year if self.snapshot else None,
            "next_year": self.next_year,
            "restore_strategy": self.restore_strategy,
            "skipped": list(self.skipped),
            "moves_aside": self.moves_aside,
            "last_year": self.last_year,
            "message": self.explain(),
            "from_cache": self.from_cache,
        }


class _Unparsed(Exception):
    """A decision from the stat cache reached a snapshot the record does not name: it must
    be fingerprinted, and its manifest was read without parsing its SQL."""


def plan_resume(
    store: Store,
    config: Config,
    *,
    db_path: Path,
    years: tuple[int, int],
    block: Mapping[str, Any] | None = None,
    use_cache: bool = False,
) -> ResumeDecision:
    """Where ``run --resume`` starts, and why: the one decision ``status`` prints and ``run``
    carries out. Changes nothing in the database; raises DriftError when only other lineages'
    snapshots exist.

    A full check that finds the database equal to a snapshot is recorded in the stat cache
    beside it (:mod:`navsnap.statcache`). ``use_cache`` (``status`` only) trusts a valid
    record instead of fingerprinting the database again.
    """
    try:
        decision = _decide(
            store, config, db_path=db_path, years=years, block=block, use_cache=use_cache
        )
    except _Unparsed:  # the record does not answer alone: decide as a full check does
        decision = _decide(
            store, config, db_path=db_path, years=years, block=block, use_cache=use_cache, sql=True
        )
    if decision.action == "start" and db_path.exists():
        decision = dataclasses.replace(decision, moves_aside=True)
    log.info("resume: %s", decision.explain())
    for line in decision.skipped:
        log.info("resume: %s", line)
    return decision


def _decide(
    store: Store,
    config: Config,
    *,
    db_path: Path,
    years: tuple[int, int],
    block: Mapping[str, Any] | None,
    use_cache: bool = False,
    sql: bool = False,
) -> ResumeDecision:
    """Find the chain the live database is on and decide what to do with its newest snapshot.

    Only this database's snapshots (:mod:`navsnap.identity`) of this lineage count. The
    *head* is the snapshot the live database matches (newest first among those of the year
    the database holds); the run continues from it, or from the newest snapshot descending
    from it. When the database matches none (missing, damaged, or stopped inside a year),
    the head is the newest snapshot taken, falling back along its ``parent`` links past
    damaged ones. Snapshots of another chain (an older run a re-run replaced) are never
    restored over the database.
    """
    first, last = years
    block = block if block is not None else config_block(config)
    database = database_name(db_path)
    if not store.has_marker():
        return ResumeDecision("start", f"no store at {store.url}", next_year=first, last_year=last)
    store.check_readable()
    cached = statcache.load(db_path, engine=statcache.engine_key()) if use_cache else None
    # A decision the record answers executes and shows no manifest's SQL, so the manifests
    # are read without parsing it; any that must be fingerprinted (the record does not name
    # it) raises _Unparsed and the decision is made again with every manifest parsed, as a
    # full check makes it (a manifest whose SQL is refused is then skipped as damaged).
    unparsed = cached is not None and not sql
    manifests, broken = read_all(store, sql=not unparsed)
    skipped = [f"skipped damaged manifest {b.snapshot_id}: {b.error}" for b in broken]
    # A snapshot of the year before the first continues the run too (--years 2027-2029
    # after a finished 2025-2026); one whose run began after ``first`` does not.

    def usable(m: Manifest) -> bool:
        return first - 1 <= m.year <= last and not (
            m.config.origin_year is not None and m.config.origin_year > first
        )

    in_range = [m for m in snapshots_of(manifests, database, strict=False) if usable(m)]
    mine = [m for m in in_range if same_lineage(m.config, block)]
    # An old snapshot of this lineage that may be this database's, as far on as any that
    # certainly is: resuming without it could restart or roll back, with it could take
    # another file's data. Refuse (navsnap.identity).
    reach = max((m.year for m in mine), default=first - 2)
    for m in undecided_of(manifests, database):
        if usable(m) and same_lineage(m.config, block) and m.year >= reach:
            raise ambiguous(
                m, database, hint=f"continue it by name: --from-snapshot {m.snapshot_id}"
            )
    if not mine:
        if in_range:
            raise drift_error(max(in_range, key=lambda m: (m.year, m.created_at)), block)
        return ResumeDecision(
            "start",
            f"no snapshot of database {database} for years {first}-{last - 1}",
            next_year=first,
            skipped=tuple(skipped),
            last_year=last,
        )
    year_column = mine[0].year_column
    if cached is not None and cached.year_column != year_column:
        cached = None
    # Begun even when the record is trusted: a snapshot it does not name is still fingerprinted
    # (a new run of the same year, another lineage), and that match is recorded in its place.
    rec = statcache.begin(db_path, engine=statcache.engine_key(), year_column=year_column)
    if cached is not None:
        held = cached.year
    else:
        held = _live_year(db_path, year_column) if db_path.exists() else None
    rec.year = held
    plans: dict[str, RestorePlan] = {}
    hits: set[str] = set()

    def plan_of(m: Manifest) -> RestorePlan:
        """A snapshot's restore plan, made once: each fingerprints the live database
        (unless the stat cache says the database is this very snapshot)."""
        if m.snapshot_id not in plans:
            if cached is not None and cached.holds(m):
                plans[m.snapshot_id] = _cached_plan(m, db_path)
                hits.add(m.snapshot_id)
            elif unparsed:
                raise _Unparsed(m.snapshot_id)
            else:
                from navsnap.restore.plan import plan_restore

                plans[m.snapshot_id] = plan_restore(store, m, db_path=db_path)
                if plans[m.snapshot_id].strategy == "none":
                    rec.matched_snapshot(m)
        return plans[m.snapshot_id]

    def verified(m: Manifest, skipped: list[str]) -> bool:
        """Whether ``m``'s objects are intact: hashed, unless the record says these very
        files were hashed (a local store)."""
        paths = _object_paths(store, m)
        if cached is not None and paths is not None and cached.objects_unchanged(paths):
            return True
        before = _identities(paths, rec)
        if not _verified(store, m, skipped):
            return False
        if before is not None and before == _identities(paths, rec):
            rec.verified_objects(before)
        return True

    head, plan = _matching(mine, held=held, plan_of=plan_of, verified=verified, skipped=skipped)
    if head is not None:
        tip = _newest_descendant(head, mine)
        if tip is not None and verified(tip, skipped):
            head, plan = tip, plan_of(tip)
    else:
        others = [m for m in snapshots_of(manifests, database) if not same_lineage(m.config, block)]
        holds, _plan = _matching(others, held=held, plan_of=plan_of, verified=verified, skipped=[])
        if holds is not None:
            raise ChainError(
                f"the database holds snapshot {holds.snapshot_id} (end of {holds.year}, lineage "
                f"{lineage_label(holds)}), which is not on a chain of this configuration "
                f"(lineage {str(block['hash'])[:8]}); resuming would replace it",
                holds=holds.snapshot_id,
                hint="resume with that snapshot's configuration, or choose explicitly: "
                "'navsnap run --from-snapshot ID' or --force-restart",
            )
        head, plan = _newest_intact_chain(mine, plan_of=plan_of, verified=verified, skipped=skipped)
        # A crash leaves at most the year under way and the one still exporting beyond the
        # newest snapshot; more than that is finished work of another chain.
        if head is not None and held is not None and held > head.year + 2:
            raise ChainError(
                f"the database holds years up to {held}, which no snapshot of this chain has; "
                f"resuming would go back to {head.snapshot_id} (end of {head.year}) and drop them",
                hint=f"restore it explicitly ('navsnap restore {head.snapshot_id}'), or start "
                "over with --force-restart",
            )
    rec.finish()
    if head is None or plan is None:
        return ResumeDecision(
            "start",
            "no snapshot of this configuration verifies",
            next_year=first,
            skipped=tuple(skipped),
            last_year=last,
        )
    if plan.strategy == "none":
        if head.year >= last:
            return ResumeDecision(
                "complete",
                "database matches the last year",
                head,
                None,
                None,
                tuple(skipped),
                last_year=last,
                from_cache=head.snapshot_id in hits,
            )
        return ResumeDecision(
            "continue",
            "database matches the snapshot",
            head,
            head.year + 1,
            None,
            tuple(skipped),
            last_year=last,
            from_cache=head.snapshot_id in hits,
        )
    return ResumeDecision(
        "restore",
        plan.reason,
        head,
        head.year + 1,
        plan.strategy,
        tuple(skipped),
        last_year=last,
        plan=plan,
    )


def _cached_plan(m: Manifest, db_path: Path) -> RestorePlan:
    """The plan a full check made when it found the database equal to ``m``, from the stat
    cache: nothing to do, every partition kept."""
    from navsnap.restore.actions import PartitionAction, RestorePlan

    keep = tuple(
        PartitionAction(t.name, p.year, "keep", p.rows, 0) for t in m.tables for p in t.partitions
    )
    names = tuple(t.name for t in m.tables)
    return RestorePlan(
        m.snapshot_id,
        m.year,
        str(db_path),
        "none",
        "stat cache: database unchanged",
        keep,
        (),
        names,
    )


def _object_paths(store: Store, m: Manifest) -> dict[str, Path] | None:
    """Each object's file, on a store whose objects are local files (else None), named by
    its key, hash and size together: a manifest naming a known key with another hash or size
    is not the object that was verified."""
    if not store.capabilities.local_paths:
        return None
    try:
        return {statcache.object_key(o): store.local_path(o.key) for o in m.objects()}
    except ValueError:
        return None


def _identities(
    paths: Mapping[str, Path] | None, rec: statcache.Recorder
) -> dict[str, statcache.FileIdentity] | None:
    """The objects' identities, when all are regular files on the database's filesystem (so
    their times and the record's clock are one clock) and a record is being made."""
    if paths is None or rec.identity is None:
        return None
    out: dict[str, statcache.FileIdentity] = {}
    for key, path in paths.items():
        ident = statcache.FileIdentity.of(path, follow=False)
        if ident is None or ident.dev != rec.identity.dev:
            return None
        out[key] = ident
    return out


def _verified(store: Store, m: Manifest, skipped: list[str]) -> bool:
    try:
        verify_objects(store, m, m.objects())
    except NavsnapError as exc:
        skipped.append(f"skipped snapshot {m.snapshot_id}: {exc.message}")
        return False
    return True


def _newest(ms: Iterable[Manifest]) -> list[Manifest]:
    return sorted(ms, key=lambda m: (m.created_at, m.snapshot_id), reverse=True)


def _matching(
    mine: Sequence[Manifest],
    *,
    held: int | None,
    plan_of: Callable[[Manifest], RestorePlan],
    verified: Callable[[Manifest, list[str]], bool],
    skipped: list[str],
) -> tuple[Manifest | None, RestorePlan | None]:
    """The verified snapshot of year ``held`` the live database matches (newest first)."""
    if held is None:
        return None, None
    for m in _newest(m for m in mine if m.year == held):
        if not verified(m, skipped):
            continue
        plan = plan_of(m)
        if plan.strategy == "none":
            return m, plan
    return None, None


def record_written(db_path: Path, manifest: Manifest) -> bool:
    """Record in the stat cache that ``db_path`` is exactly ``manifest``, for the writer that
    has just made it so and closed it under navsnap's database lock: a run whose last
    snapshot fingerprinted every partition. So the first
    ``status`` afterwards needs no scan (:func:`navsnap.statcache.record_written`). A
    whole-file snapshot is never recorded: a full check never finds a database equal to one.
    """
    if manifest.mode != "parquet":
        return False
    return statcache.record_written(
        db_path,
        manifest,
        engine=statcache.engine_key(),
        year_column=manifest.year_column,
        year=lambda: _live_year(db_path, manifest.year_column),
    )


def _live_year(db_path: Path, year_column: str) -> int | None:
    """The newest year in the live database's year-scoped tables (None: unreadable).

    One catalog query for the tables that have the year column, then one query over them
    (not the full table listing a plan needs: ``status`` runs this on every call)."""
    import duckdb

    from navsnap.catalog import qualified, quote_ident

    try:
        con = duckdb.connect(str(db_path), read_only=True)
    except duckdb.Error:
        return None
    try:
        tables = con.execute(
            "SELECT c.schema_name, c.table_name FROM duckdb_columns() AS c "
            "JOIN duckdb_tables() AS t ON t.database_name = c.database_name "
            "AND t.schema_name = c.schema_name AND t.table_name = c.table_name "
            "WHERE c.database_name = current_database() AND c.column_name = ? "
            "AND NOT t.internal AND NOT t.temporary ORDER BY t.table_oid",
            [year_column],
        ).fetchall()
        if not tables:
            return None
        col = quote_ident(year_column)
        # One column per table, each of its own type, read as the per-table loop read them.
        maxima = ", ".join(
            f"(SELECT max({col}) FROM {qualified(schema, table)})" for schema, table in tables
        )
        row = con.execute(f"SELECT {maxima}").fetchone()
        years = [int(v) for v in row or () if v is not None]
        return max(years) if years else None
    except (duckdb.Error, ValueError, TypeError):
        return None
    finally:
        con.close()


def _newest_descendant(head: Manifest, mine: Sequence[Manifest]) -> Manifest | None:
    """The most advanced snapshot continuing ``head``'s chain (None: ``head`` is the tip)."""
    children: dict[str, list[Manifest]] = {}
    for m in mine:
        if m.parent is not None:
            children.setdefault(m.parent, []).append(m)
    found: list[Manifest] = []
    seen = {head.snapshot_id}
    todo = [head.snapshot_id]
    while todo:  # ``seen``: a hostile store's parent links may form a cycle
        for child in children.get(todo.pop(), []):
            if child.snapshot_id not in seen:
                seen.add(child.snapshot_id)
                found.append(child)
                todo.append(child.snapshot_id)
    later = [m for m in found if m.year > head.year]
    return max(later, key=lambda m: (m.year, m.created_at, m.snapshot_id)) if later else None


def _newest_intact_chain(
    mine: Sequence[Manifest],
    *,
    plan_of: Callable[[Manifest], RestorePlan],
    verified: Callable[[Manifest, list[str]], bool],
    skipped: list[str],
) -> tuple[Manifest | None, RestorePlan | None]:
    """The newest snapshot taken, or along its parents the newest that verifies."""
    by_id = {m.snapshot_id: m for m in mine}
    newest = _newest(mine)
    current: Manifest | None = newest[0] if newest else None
    seen: set[str] = set()
    while current is not None and current.snapshot_id not in seen:
        seen.add(current.snapshot_id)
        if verified(current, skipped):
            return current, plan_of(current)
        current = by_id.get(current.parent) if current.parent else None
    return None, None
