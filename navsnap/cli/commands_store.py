"""list, show, restore."""

from __future__ import annotations

import json
from pathlib import Path

import click

from navsnap import api
from navsnap.cli.common import (
    YEAR,
    config_option,
    db_given,
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
from navsnap.identity import database_name, foreign_note, lineage_label, owner_key


def _verified_cell(s: api.SnapshotSummary) -> str:
    """When it was last found intact; DAMAGED when the last verify found damage; - never."""
    if s.damaged_at is not None:
        return "DAMAGED"
    return (s.verified_at or "-")[:19].replace("T", " ")


@click.command("list")
@config_option
@db_option
@store_option
@click.option("--year", type=YEAR, default=None, help="Only snapshots of this year.")
@click.option("--run", "run_id", default=None, help="Only this run's (id or prefix).")
@click.option("--tag", default=None, help="Only the snapshot this tag names.")
@json_option
def list_cmd(
    config_path: str | None,
    db: str,
    store: str | None,
    year: int | None,
    run_id: str | None,
    tag: str | None,
    as_json: bool,
) -> None:
    """List the snapshots in the store, oldest first.

    Every database in the store is listed unless --db (or NAVSNAP_DB) names one: then only
    its snapshots. DATABASE is the database file's name without its last suffix (sim.v2 for
    sim.v2.duckdb); LINEAGE the
    configuration hash; FORK OF the parent of a snapshot that starts a new lineage (a fork).
    HOT is the size of the snapshot's hot-tier copy (a whole-file copy of the year-end kept
    for the latest K year-ends, run --hot K), - when it has none or it was released.
    VERIFIED is when verify last found a snapshot intact, DAMAGED when the last verify found
    it damaged, - when it was never verified.

    \b
    Example:
      navsnap list --store snapshots/
      navsnap list --db big.duckdb --year 2027
    """
    snaps, broken = api.list_snapshots(
        store_url(store, config_path, db),
        db=db if db_given() else None,
        year=year,
        run=run_id,
        tag=tag,
    )
    if as_json:
        emit_json({"snapshots": [s.to_dict() for s in snaps], "damaged": broken})
        return
    for line in broken:
        warn(f"damaged manifest {line}")
    if not snaps:
        say("no snapshots")
        return
    rows = [
        [
            s.snapshot_id,
            str(s.year),
            s.database,
            s.lineage,
            s.created_at[:19].replace("T", " "),
            s.mode + (f"/{s.copy_method}" if s.copy_method else ""),
            str(s.tables),
            f"{s.rows:,}",
            human_bytes(s.bytes_new),
            human_bytes(s.bytes_total - s.bytes_new),
            human_bytes(s.hot_bytes) if s.hot_bytes else "-",
            _verified_cell(s),
            ",".join(s.tags),
            s.fork_of or "",
        ]
        for s in snaps
    ]
    click.echo(
        table(
            rows,
            [
                "SNAPSHOT",
                "YEAR",
                "DATABASE",
                "LINEAGE",
                "CREATED",
                "MODE",
                "TABLES",
                "ROWS",
                "NEW",
                "SHARED",
                "HOT",
                "VERIFIED",
                "TAGS",
                "FORK OF",
            ],
        )
    )


@click.command("show")
@click.argument("snapshot", required=False)
@year_option
@config_option
@db_option
@store_option
@json_option
def show_cmd(
    snapshot: str | None,
    year: int | None,
    config_path: str | None,
    db: str,
    store: str | None,
    as_json: bool,
) -> None:
    """Show one snapshot's manifest.

    SNAPSHOT is an id, a unique id prefix, a tag, a run id (prefix) with --year, or latest
    (latest@2027): the newest snapshot of the database --db names.

    \b
    Example:
      navsnap show 20261127T103500Z-3f2a-2027
      navsnap show latest@2027
      navsnap show 20261127T103500Z-3f2a --year 2027
    """
    m = api.show(store_url(store, config_path, db), snapshot, year=year, db=db)
    if as_json:
        emit_json(m.to_dict())
        return
    note = foreign_note(m, database_name(db)) if db_given() else None
    if note:
        warn(note)
    click.echo(f"snapshot   {m.snapshot_id}")
    click.echo(f"database   {owner_key(m)}")
    click.echo(f"run        {m.run_id}")
    click.echo(f"year       {m.year}")
    click.echo(f"created    {m.created_at}")
    click.echo(f"mode       {m.mode}" + (f" ({m.file.method})" if m.file else ""))
    click.echo(
        f"versions   navsnap {m.navsnap_version}, duckdb {m.duckdb_version}, "
        f"storage {m.storage_version or '-'}"
    )
    click.echo(f"lineage    {lineage_label(m)} (config {m.config_hash})")
    click.echo(f"parent     {m.parent or '-'}")
    if m.parent:
        parent = api.parent_of(store_url(store, config_path, db), m)
        if parent is not None and (
            parent.config_hash != m.config_hash or owner_key(parent) != owner_key(m)
        ):
            click.echo(
                f"fork of    {parent.snapshot_id} (database {owner_key(parent)}, lineage "
                f"{lineage_label(parent)})"
            )
    click.echo(f"bytes      {human_bytes(m.total_bytes)} total, {human_bytes(m.new_bytes)} new")
    rows = []
    for t in m.tables:
        for p in t.partitions:
            rows.append(
                [
                    t.name,
                    str(p.year),
                    f"{p.rows:,}",
                    human_bytes(p.object.size),
                    "shared" if p.reused else "new",
                    p.object.key.rsplit("/", 1)[-1][:16],
                ]
            )
    click.echo()
    click.echo(table(rows, ["TABLE", "YEAR", "ROWS", "BYTES", "", "OBJECT"]))
    if m.ddl:
        click.echo()
        click.echo("schema objects: " + ", ".join(f"{d.kind} {d.name}" for d in m.ddl))
    if m.validation or m.checks:
        click.echo()
        for k, v in sorted({**m.validation, **m.checks}.items()):
            click.echo(f"  {k}: {json.dumps(v, sort_keys=True)}")


@click.command("restore")
@click.argument("snapshot", required=False)
@click.option(
    "--year",
    type=YEAR,
    default=None,
    help="Restore this database's newest snapshot of this year.",
)
@click.option(
    "--run", "run_id", default=None, help="With --year: only this run's (id or unique prefix)."
)
@config_option
@db_option
@store_option
@click.option(
    "--to",
    "to",
    default=None,
    type=click.Path(path_type=str),
    help="Restore into this path instead (a file there is moved aside, never deleted); "
    "the live database is left untouched. Never the database itself or a path in the store.",
)
@click.option("--tables", default=None, help="Comma-separated tables to restore (others kept).")
@click.option("--dry-run", is_flag=True, help="Print the plan and change nothing.")
@wait_lock_option
@json_option
def restore_cmd(
    snapshot: str | None,
    year: int | None,
    run_id: str | None,
    config_path: str | None,
    db: str,
    store: str | None,
    to: str | None,
    tables: str | None,
    dry_run: bool,
    wait_lock: float,
    as_json: bool,
) -> None:
    """Bring a database back to a year boundary from the store.

    --year (and latest, latest@2027) choose among the snapshots of the database --db names
    only (its file name without .duckdb). A snapshot of another database is restored only
    when named by its id or a tag, and the output says so.

    \b
    Example:
      navsnap restore --year 2027
      navsnap restore 20261127T103500Z-3f2a-2027 --to /tmp/copy.duckdb
      navsnap restore --year 2027 --tables fct_workforce_snapshot --dry-run
    """
    names = [t.strip() for t in tables.split(",") if t.strip()] if tables is not None else None
    if to is not None:  # --to promises to leave the live database alone: never the same file
        from navsnap.dbfile import checked_path, separate_target

        separate_target(
            checked_path(Path(to), option="--to"), option="--to", db=checked_path(Path(db))
        )
    with progress_bars() as bars:
        report = api.restore(
            store=store_url(store, config_path, db),
            db=db,
            snapshot=snapshot,
            year=year,
            run=run_id,
            to=to,
            tables=names,
            dry_run=dry_run,
            wait_lock=wait_lock,
            progress=bars,
        )
    plan = report.plan
    if as_json:
        emit_json({**report.to_dict(), "dry_run": dry_run})
        return
    for note in report.notes:
        warn(note)
    verb = "would" if dry_run else "did"
    if plan.strategy == "none":
        say(f"{plan.target} already matches {plan.snapshot_id}; nothing to do")
        return
    say(
        f"{verb} restore {plan.snapshot_id} (end of {plan.year}) into {plan.target}: "
        f"{plan.strategy} ({plan.reason})"
    )
    say(
        f"  load {plan.count('load')} partition(s), {human_bytes(plan.bytes_to_read)} to read; "
        f"drop {plan.count('drop')}; keep {plan.count('keep')}"
        + (f"; drop tables {', '.join(plan.drop_tables)}" if plan.drop_tables else "")
        + (f"; set {len(plan.comments)} comment(s)" if plan.comments else "")
    )
    if dry_run:
        for a in plan.actions:
            if a.action != "keep":
                say(f"  {a.action:4} {a.table} {a.year or '(global)'} {a.rows:,} rows")
        return
    for moved in report.moved_aside:
        say(f"  old file kept as {moved}")
    say(f"  done in {report.seconds:.2f}s")


@click.command("info")
@config_option
@db_option
@store_option
@json_option
def info_cmd(config_path: str | None, db: str, store: str | None, as_json: bool) -> None:
    """Summarize the store per database: size, dedup, last verify.

    STORED counts every object once; DEDUP is what the snapshots would take stored apart
    divided by STORED; HOT the bytes of the live hot-tier copies (run --hot K), listed per
    year below the table. VERIFIED is the newest verify that found one of the database's
    snapshots intact; DAMAGED counts snapshots the last verify found damaged.

    \b
    Example:
      navsnap info
      navsnap info --json
    """
    report = api.info(store_url(store, config_path, db))
    if as_json:
        emit_json(report.to_dict())
        return
    for line in report.damaged_manifests:
        warn(f"damaged manifest {line}")
    click.echo(
        f"{report.store}: {report.snapshots} snapshot(s), {human_bytes(report.stored_bytes)} "
        f"stored, {human_bytes(report.logical_bytes)} without dedup ({report.dedup_ratio:.1f}x)"
    )
    if not report.databases:
        return
    rows = [
        [
            d.database,
            str(len(d.runs)),
            str(d.snapshots),
            str(d.newest_year),
            human_bytes(d.stored_bytes),
            f"{d.dedup_ratio:.1f}x",
            human_bytes(d.hot_bytes) if d.hot else "-",
            (d.last_verified_at or "-")[:16].replace("T", " "),
            str(len(d.damaged)) if d.damaged else "-",
        ]
        for d in report.databases
    ]
    click.echo()
    click.echo(
        table(
            rows,
            [
                "DATABASE",
                "RUNS",
                "SNAPSHOTS",
                "NEWEST",
                "STORED",
                "DEDUP",
                "HOT",
                "VERIFIED",
                "DAMAGED",
            ],
        )
    )
    for d in report.databases:
        if d.hot:
            years = ", ".join(f"{y} {human_bytes(b)}" for y, b in d.hot)
            click.echo(f"hot tier of {d.database}: {years}")


COMMANDS = [list_cmd, show_cmd, restore_cmd, info_cmd]
