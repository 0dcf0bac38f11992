"""``ketch usage``: what apps used and cost, by app, function, call, day or hour."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import sys
import time

import click

from .. import usage as usage_api

COLUMNS = ("group", "cpu_s", "memory_gib_s", "gpu_s", "gpu_types", "cost")
HEADERS = ("", "CPU core-s", "memory GiB-s", "GPU-s", "GPUs", "cost ($)")


def parse_when(value: str | None) -> float | None:
    """``2026-11-28``, ``2026-11-28T10:00`` (UTC), or ``36h``/``7d`` ago."""
    if value is None:
        return None
    relative = re.fullmatch(r"(\d+)([hd])", value)
    if relative:
        amount, unit = int(relative[1]), relative[2]
        return time.time() - amount * (3600 if unit == "h" else 86400)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: use a date (2026-11-28), a UTC time "
                                 "(2026-11-28T10:00), or an age (36h, 7d)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


@click.command()
@click.option("--by", "group_by", default="app", show_default=True,
              type=click.Choice(["app", "function", "call", "day", "hour"]))
@click.option("--since", help="From this date, UTC time or age (7d).")
@click.option("--until", help="Up to this date, UTC time or age.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
def usage(group_by: str, since: str | None, until: str | None, as_json: bool,
          as_csv: bool) -> None:
    """Show metered usage and its cost."""
    rows = usage_api.query(by=group_by, since=parse_when(since), until=parse_when(until))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row[c] if row[c] is not None else "" for c in COLUMNS])
    else:
        _table(rows, group_by)


def _table(rows: list[dict[str, object]], group_by: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"usage by {group_by}")
    for header in (group_by, *HEADERS[1:]):
        table.add_column(header, justify="left" if header == group_by else "right")
    for row in rows:
        table.add_row(str(row["group"] or "(idle)"), f"{row['cpu_s']:.2f}",
                      f"{row['memory_gib_s']:.2f}", f"{row['gpu_s']:.1f}",
                      str(row["gpu_types"] or ""), f"{row['cost']:.6f}")
    Console().print(table)
