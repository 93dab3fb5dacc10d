"""verify, diff, prune, tag, untag."""

from __future__ import annotations

import json

import click

from navsnap import api
from navsnap.cli.common import (
    FiniteFloatRange,
    chosen_snapshot,
    config_option,
    db_option,
    emit_json,
    human_bytes,
    json_option,
    progress_bars,
    say,
    store_option,
    store_url,
    table,
    wait_lock_option,
    warn,
    year_option,
)
from navsnap.config import load_config
from navsnap.diff import ManifestDiff
from navsnap.errors import LockHeld, VerifyFailed
from navsnap.retention import RetentionPolicy, parse_duration, parse_size
from navsnap.years import year_number

#: diff --exit-code: the snapshots differ (git's convention).
EXIT_DIFFERENT = 1


@click.command("verify")
@click.argument("snapshots", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Check the whole store (the default).")
@click.option("--deep", is_flag=True, help="Also read the Parquet and recompute the data checks.")
@click.option(
    "--sample",
    type=FiniteFloatRange(min=0, min_open=True, max=100),
    default=None,
    metavar="PCT",
    help="Check only this percentage of the objects, chosen at random.",
)
@click.option(
    "--since-hours",
    type=FiniteFloatRange(min=0),
    default=None,
    metavar="H",
    help="Skip objects verified intact within H hours (default: re-check all).",
)
@config_option
@db_option
@store_option
@json_option
def verify_cmd(
    snapshots: tuple[str, ...],
    all_: bool,
    deep: bool,
    sample: float | None,
    since_hours: float | None,
    config_path: str | None,
    db: str,
    store: str | None,
    as_json: bool,
) -> None:
    """Check manifests and objects (size, xxh3); exit 14 on damage.

    Without SNAPSHOT (or with --all) the whole store is checked, including objects no
    manifest references and tags that name no snapshot.

    \b
    Example:
      navsnap verify
      navsnap verify --deep 20261127T103500Z-3f2a-2027
      navsnap verify --sample 10 --since-hours 24 --json
    """
    if all_ and snapshots:
        raise click.UsageError("give SNAPSHOT ids or --all, not both")
    with progress_bars() as bars:
        report = api.verify(
            store_url(store, config_path, db),
            list(snapshots),
            deep=deep,
            sample_pct=sample,
            since_hours=since_hours,
            progress=bars,
            db=db,
        )
    if as_json:
        emit_json(report.to_dict())
    else:
        for p in report.problems:
            users = f" (breaks {', '.join(p.snapshots)})" if p.snapshots else ""
            click.echo(f"{p.kind:20} {p.key}: {p.detail}{users}", err=True)
        if report.pending_orphans:
            say(
                f"{len(report.pending_orphans)} unreferenced object(s) younger than the grace "
                "period (a checkpoint may be writing them) not counted"
            )
        if report.counts_only:
            say(
                f"{len(report.counts_only)} snapshot(s) written by a DuckDB that hashes otherwise "
                "than this one: their data was compared by row counts, not fingerprints"
            )
        mode = "deep" if report.deep else "objects"
        sample_txt = f", {report.sample_pct:g}% sample" if report.sample_pct else ""
        say(
            f"checked {len(report.snapshots)} snapshot(s), {report.objects_checked} of "
            f"{report.objects_total} object(s) ({mode}{sample_txt}; "
            f"{report.objects_skipped_recent} skipped as recently verified), "
            f"{human_bytes(report.bytes_hashed)} in {report.seconds:.2f}s"
        )
    if not report.ok:
        kinds = sorted({p.kind for p in report.problems})
        broken = report.broken_snapshots
        raise VerifyFailed(
            f"verify found {len(report.problems)} problem(s) ({', '.join(kinds)})"
            + (f"; damaged snapshots: {', '.join(broken)}" if broken else ""),
            hint="snapshots not named are intact: 'navsnap run --resume' skips damaged ones; "
            "'navsnap list' marks them DAMAGED",
        )
    if not as_json:
        say("ok")


@click.command("diff")
@click.argument("a")
@click.argument("b")
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit 1 when the snapshots differ, 0 when they are identical (like git diff).",
)
@year_option
@config_option
@db_option
@store_option
@json_option
def diff_cmd(
    a: str,
    b: str,
    exit_code: bool,
    year: int | None,
    config_path: str | None,
    db: str,
    store: str | None,
    as_json: bool,
) -> None:
    """Compare two snapshots: rows, schema, aggregates, config.

    Rows are compared by count and fingerprint, per table and year. With --year, A and B
    may be run ids (or prefixes): two runs or scenarios compared at the same year.

    \b
    Example:
      navsnap diff 20261127T103500Z-3f2a-2027 20261128T090000Z-77c1-2027
      navsnap diff baseline 20261127T103500Z-3f2a-2027 --json
      navsnap diff 20261127T103500Z-3f2a 20261128T090000Z-77c1 --year 2027
      navsnap diff --exit-code baseline-2027 20261128T090000Z-77c1-2027
    """
    url = store_url(store, config_path, db)
    first = chosen_snapshot(url, a, year=year, db=db)
    second = chosen_snapshot(url, b, year=year, db=db)
    d = api.diff(url, first, second)
    _render_diff(d, as_json=as_json)
    if exit_code and not d.identical:
        click.get_current_context().exit(EXIT_DIFFERENT)


def _render_diff(d: ManifestDiff, *, as_json: bool) -> None:
    if as_json:
        emit_json(d.to_dict())
        return
    click.echo(f"A  {d.a} (year {d.year_a})")
    click.echo(f"B  {d.b} (year {d.year_b})")
    for k in d.config_keys:
        click.echo(f"config {k.key}: {k.old!r} -> {k.new!r}")
    for i in d.config_inputs:
        click.echo(f"input  {i.path}: {i.old or '-'} -> {i.new or '-'}")
    rows = []
    for t in d.tables:
        for p in t.partitions:
            rows.append(
                [
                    t.name,
                    p.year or "(global)",
                    "-" if p.rows_a is None else f"{p.rows_a:,}",
                    "-" if p.rows_b is None else f"{p.rows_b:,}",
                    p.status,
                ]
            )
        if not t.partitions:
            rows.append([t.name, "", "0", "0", t.status])
    click.echo()
    click.echo(table(rows, ["TABLE", "YEAR", "ROWS A", "ROWS B", "DATA"]))
    schema_lines = []
    for t in d.tables:
        if t.status in ("added", "removed"):
            schema_lines.append(f"table {t.name} {t.status}")
        for c in t.columns:
            schema_lines.append(f"{t.name}.{c.name}: {c.change} ({c.old or '-'} -> {c.new or '-'})")
        if t.ddl_changed:
            schema_lines.append(f"{t.name}: DDL changed")
    schema_lines += [f"{o.kind} {o.name} {o.change}" for o in d.objects]
    if schema_lines:
        click.echo()
        click.echo("schema:")
        for line in schema_lines:
            click.echo(f"  {line}")
    values = [*d.validation, *d.checks]
    if values:
        click.echo()
        click.echo(
            table(
                [
                    [
                        v.key,
                        json.dumps(v.a, sort_keys=True)[:40],
                        json.dumps(v.b, sort_keys=True)[:40],
                        "=" if v.equal else "differs",
                    ]
                    for v in values
                ],
                ["AGGREGATE", "A", "B", ""],
            )
        )
    click.echo()
    click.echo("identical" if d.identical else "different")


@click.command("prune")
@click.option("--keep-last", type=click.IntRange(min=0), default=0, help="Keep the N newest.")
@click.option("--keep-runs", type=click.IntRange(min=0), default=0, help="Keep N newest runs.")
@click.option("--keep-years", default=None, help="Keep every snapshot of these years: 2025,2029.")
@click.option("--max-size", default=None, help="Drop oldest snapshots above this size: 100MB.")
@click.option(
    "--keep-within",
    default=None,
    metavar="DURATION",
    help="Keep every snapshot created within this time: 30d, 12h, 2w.",
)
@click.option(
    "--group-by",
    type=click.Choice(["lineage", "database", "none"]),
    default="lineage",
    show_default=True,
    help="Apply the keep rules within each database and lineage, each database, or the "
    "whole store.",
)
@click.option(
    "--grace-minutes",
    type=FiniteFloatRange(min=0),
    default=None,
    help="Keep unreferenced objects younger than this (default 60).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@config_option
@db_option
@store_option
@wait_lock_option
@json_option
def prune_cmd(
    keep_last: int,
    keep_runs: int,
    keep_years: str | None,
    max_size: str | None,
    keep_within: str | None,
    group_by: str,
    grace_minutes: float | None,
    dry_run: bool,
    config_path: str | None,
    db: str,
    store: str | None,
    wait_lock: float,
    as_json: bool,
) -> None:
    """Remove snapshots a retention policy drops, and unused objects.

    Snapshots go first, then the objects no remaining manifest references.

    The keep rules apply within each group: by default each database and lineage, so one
    database's runs never push out another's. Never removed: tagged snapshots and, in each
    group, the newest verified snapshot of the newest run and the newest snapshot of the
    furthest year. Without keep options the [retention] policy of the config applies;
    without either, only unreferenced objects are removed. Every snapshot is listed with
    why it is kept or removed.

    \b
    Example:
      navsnap prune --keep-last 10 --dry-run
      navsnap prune --keep-runs 2 --keep-years 2025,2029
      navsnap prune --max-size 20GB
      navsnap prune --keep-runs 1 --keep-within 30d
    """
    try:
        years = (
            tuple(year_number(y) for y in keep_years.split(",") if y.strip()) if keep_years else ()
        )
    except ValueError:
        raise click.BadParameter(
            "years must be comma-separated integers", param_hint="--keep-years"
        ) from None
    policy = RetentionPolicy(
        keep_last=keep_last,
        keep_runs=keep_runs,
        keep_years=years,
        max_size=parse_size(max_size) if max_size else None,
        keep_within=parse_duration(keep_within) if keep_within else None,
        group_by=group_by,
    )
    config = load_config(config_path)
    with progress_bars() as bars:
        report = api.prune(
            store_url(store, config_path, db),
            policy=policy,
            config=config,
            grace_minutes=grace_minutes,
            dry_run=dry_run,
            wait_lock=wait_lock,
            progress=bars,
        )
    if as_json:
        emit_json(report.to_dict())
        return
    for w in report.warnings:
        warn(w)
    verb = "would remove" if dry_run else "removed"
    say(f"policy: {report.policy.describe()}")
    for d in report.decisions:
        group = f" [{d.group}]" if d.group else ""
        what = "keep" if d.keep else verb
        say(f"{what} snapshot {d.snapshot_id}{group} ({'; '.join(d.reasons)})")
    for key in report.removed_objects:
        say(f"{verb} object {key}")
    for note in report.notes:
        say(f"note: {note}")
    say(
        f"{verb} {len(report.removed_manifests)} snapshot(s) and "
        f"{len(report.removed_objects)} object(s), {human_bytes(report.freed_bytes)}; "
        f"{human_bytes(report.size_after)} referenced by the remaining snapshots"
    )


@click.command("tag")
@click.argument("snapshot")
@click.argument("name")
@click.option("--force", is_flag=True, help="Move the tag if it names another snapshot.")
@year_option
@config_option
@db_option
@store_option
@json_option
def tag_cmd(
    snapshot: str,
    name: str,
    force: bool,
    year: int | None,
    config_path: str | None,
    db: str,
    store: str | None,
    as_json: bool,
) -> None:
    """Pin a snapshot under a name; tagged ones are never pruned.

    NAME is letters, digits, '.', '_' or '-', starting with a letter or digit; not latest,
    and not shaped like a run or snapshot id (a tag is found before a run of its name).

    \b
    Example:
      navsnap tag 20261127T103500Z-3f2a-2027 baseline-2027
      navsnap tag latest@2027 newest-2027
      navsnap restore baseline-2027
    """
    url = store_url(store, config_path, db)
    change = api.tag(url, chosen_snapshot(url, snapshot, year=year, db=db), name, force=force)
    if as_json:
        emit_json(change.__dict__)
        return
    moved = (
        f" (moved from {change.previous})"
        if change.previous not in (None, change.snapshot_id)
        else ""
    )
    say(f"tag {change.name} -> {change.snapshot_id}{moved}")


@click.command("untag")
@click.argument("name")
@config_option
@db_option
@store_option
@json_option
def untag_cmd(
    name: str, config_path: str | None, db: str, store: str | None, as_json: bool
) -> None:
    """Remove a tag; the snapshot stays (and may be pruned later).

    \b
    Example:
      navsnap untag baseline-2027
    """
    change = api.untag(store_url(store, config_path, db), name)
    if as_json:
        emit_json(change.__dict__)
        return
    say(f"removed tag {change.name} (was {change.snapshot_id or '-'})")


@click.command("unlock")
@click.option(
    "--force", is_flag=True, help="Also remove live locks of other hosts (that machine is gone)."
)
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@config_option
@db_option
@store_option
@json_option
def unlock_cmd(
    force: bool,
    dry_run: bool,
    config_path: str | None,
    db: str,
    store: str | None,
    as_json: bool,
) -> None:
    """Remove store locks left by processes that are gone.

    A remote store's pruner lock and the markers of checkpoints in progress are removed when
    their holder is gone: its process has ended on this host, or the lock is older than its
    TTL (6 h) on another. A live lock of another host goes only with --force; a live
    process on this host is never unlocked. A database's own lock needs no unlock: the
    kernel releases it when its process ends.

    \b
    Example:
      navsnap unlock --store s3://bucket/sims --dry-run
      navsnap unlock --store s3://bucket/sims --force
    """
    report = api.unlock(store_url(store, config_path, db), force=force, dry_run=dry_run)
    kept = report.kept_live
    if as_json and not kept:
        emit_json(report.to_dict())
        return
    if not as_json:
        verb = "would remove" if dry_run else "removed"
        for lk in report.locks:
            who = lk.holder.describe() if lk.holder else "an unknown holder"
            if lk.removed:
                say(f"{verb} {lk.kind} lock {lk.key} of {who} ({lk.stale or 'forced'})")
            else:
                say(f"kept {lk.kind} lock {lk.key} of {who}: {lk.kept_because}")
        for note in report.notes:
            say(f"note: {note}")
        if not report.locks:
            say("no locks held in the store")
    if kept:
        first = kept[0]
        raise LockHeld(
            f"{len(kept)} live lock(s) kept, first {first.key}: {first.kept_because}",
            holder=first.holder.__dict__ if first.holder else {},
            hint="wait for the holder to finish, or --force if its machine is gone",
        )


COMMANDS = [verify_cmd, diff_cmd, prune_cmd, tag_cmd, untag_cmd, unlock_cmd]
