"""``ketch queue``: create, list, peek into, measure, clear and delete queues.

Like the SDK, it reaches the control plane at ``KETCH_SERVER``, or runs one embedded on
``KETCH_HOME``. Items are shown as ``repr()`` of the unpickled objects.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import click

from ..protocol import client as protocol
from ..queue import Queue
from .requests import as_dicts, call, create_object, errors, named_objects

partition_option = click.option("--partition", help="A named partition (default: the default "
                                                    "partition).")






@click.group("queue")
def queue_group() -> None:
    """Manage queues: FIFO queues shared by functions and programs."""


@queue_group.command()
@click.argument("name")
def create(name: str) -> None:
    """Create a queue."""
    create_object("queue", name)


@queue_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_queues(as_json: bool) -> None:
    """List named queues and how many items each holds (all partitions)."""
    rows = as_dicts(named_objects("queue"))
    for row in rows:
        row["len"] = call(protocol.QueueLen(queue_id=row["id"], total=True)).len
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="queues")
    for column in ("name", "id", "items", "created"):
        table.add_column(column, justify="right" if column == "items" else "left")
    for row in rows:
        created = dt.datetime.fromtimestamp(row["created"]).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(row["name"], row["id"], str(row["len"]), created)
    Console().print(table)


@queue_group.command()
@click.argument("name")
@click.argument("n", type=click.IntRange(min=0), default=1)
@partition_option
def peek(name: str, n: int, partition: str | None) -> None:
    """Show the first N items (default 1) without removing them."""
    with errors():
        for value in itertools.islice(Queue.from_name(name).iterate(partition=partition), n):
            click.echo(repr(value))


@queue_group.command("len")
@click.argument("name")
@partition_option
@click.option("--total", is_flag=True, help="Count the items of every partition.")
def length(name: str, partition: str | None, total: bool) -> None:
    """Show how many items a partition (or, with --total, the queue) holds."""
    with errors():
        click.echo(Queue.from_name(name).len(partition=partition, total=total))


@queue_group.command()
@click.argument("name")
@partition_option
@click.option("--all", "everything", is_flag=True, help="Clear every partition.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(name: str, partition: str | None, everything: bool, yes: bool) -> None:
    """Remove every item of a partition (or, with --all, of the queue)."""
    what = f"partition {partition}" if partition else "the default partition"
    if everything:
        what = "every partition"
    if not yes:
        click.confirm(f"remove every item of {what} of queue {name}?", abort=True)
    with errors():
        Queue.from_name(name).clear(partition=partition, all=everything)
    click.echo(f"cleared {what} of queue {name}")


@queue_group.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete a queue and its items."""
    if not yes:
        click.confirm(f"delete queue {name} and all its items?", abort=True)
    with errors():
        Queue.delete(name)
    click.echo(f"deleted queue {name}")
