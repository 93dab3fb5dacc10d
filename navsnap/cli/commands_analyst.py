"""sql, attach: read a snapshot in place, for analysts."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import click

from navsnap import api
from navsnap.cli.common import (
    chosen_snapshot,
    config_option,
    db_option,
    emit_json,
    json_flag,
    json_option,
    say,
    store_option,
    store_url,
    table,
    year_option,
)


def _cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


@click.command("sql")
@click.argument("snapshot")
@click.argument("query")
@year_option
@config_option
@db_option
@store_option
@json_flag("Print rows as a JSON list of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="Print rows as CSV with a header.")
def sql_cmd(
    snapshot: str,
    query: str,
    year: int | None,
    config_path: str | None,
    db: str,
    store: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Run SQL over a snapshot's tables, without restoring it.

    Every table of the snapshot is a view of the same name over exactly the Parquet
    objects its manifest lists (local paths, or s3:// URLs read with the store's
    credentials). SNAPSHOT is an id, a unique id prefix, a tag, a run id with --year, or
    latest / latest@2027 (the newest of the database --db names).

    \b
    Example:
      navsnap sql baseline "SELECT simulation_year, count(*) FROM fct_workforce_snapshot GROUP BY 1"
      navsnap sql 20261127T103500Z-3f2a-2027 "SELECT * FROM census" --csv > census.csv
    """
    if as_json and as_csv:
        raise click.UsageError("--json and --csv cannot be combined")
    url = store_url(store, config_path, db)
    result = api.sql(url, chosen_snapshot(url, snapshot, year=year, db=db), query)
    if as_json:
        click.echo(json.dumps(result.to_dicts(), indent=2, default=str))
    elif as_csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(["" if v is None else v for v in row] for row in result.rows)
        from navsnap.cli import raw_output

        # The rows byte for byte, control characters included: not escaped, and not
        # stripped of what looks like a colour code (click's default when not a terminal).
        raw_output()
        click.echo(buf.getvalue(), nl=False, color=True)
    else:
        rows = [[_cell(v) for v in row] for row in result.rows]
        click.echo(table(rows, list(result.columns)))


@click.command("attach")
@click.argument("snapshot")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=str),
    metavar="FILE",
    help="DuckDB file to write (views only, a few KB).",
)
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
@year_option
@config_option
@db_option
@store_option
@json_option
def attach_cmd(
    snapshot: str,
    out: str,
    force: bool,
    year: int | None,
    config_path: str | None,
    db: str,
    store: str | None,
    as_json: bool,
) -> None:
    """Write a DuckDB file of views over a snapshot's objects.

    Open it with any DuckDB client. For a local store the views read absolute paths.
    When the snapshot has a hot copy that the filesystem can clone to --out (XFS or
    btrfs), the file is that clone instead: the snapshot's own tables.
    For an s3:// store they read s3:// URLs: at read time DuckDB needs either navsnap's
    filesystem (navsnap.analyst.connect) or the httpfs extension with an S3 secret.

    \b
    Example:
      navsnap attach baseline --out analysis.duckdb
      duckdb analysis.duckdb -c "SELECT count(*) FROM census"
    """
    url = store_url(store, config_path, db)
    chosen = chosen_snapshot(url, snapshot, year=year, db=db)
    report = api.attach(url, chosen, out, overwrite=force, db=db)
    if as_json:
        emit_json(
            {
                "path": report.path,
                "snapshot_id": report.snapshot_id,
                "views": list(report.views),
                "remote": report.remote,
                "source": report.source,
            }
        )
        return
    if report.source == "hot":
        say(f"wrote {report.path}: a clone of snapshot {report.snapshot_id}'s hot copy")
        return
    say(f"wrote {report.path}: {len(report.views)} view(s) of snapshot {report.snapshot_id}")
    if report.remote:
        say("  views read s3:// URLs: query with navsnap, or DuckDB with httpfs and an S3 secret")


COMMANDS = [sql_cmd, attach_cmd]
