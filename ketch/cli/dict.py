"""``ketch dict``: create, list, show, clear and delete dicts.

Like the SDK, it reaches the control plane at ``KETCH_SERVER``, or runs one embedded on
``KETCH_HOME``. Keys and values are shown as ``repr()`` of the unpickled objects.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json

import click

from ..dict import Dict
from ..protocol import client as protocol
from .requests import as_dicts, call, create_object, errors, named_objects


@click.group("dict")
def dict_group() -> None:
    """Manage dicts: key-value stores shared by functions and programs."""


@dict_group.command()
@click.argument("name")
def create(name: str) -> None:
    """Create a dict."""
    create_object("dict", name)


@dict_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_dicts(as_json: bool) -> None:
    """List named dicts and how many entries each holds."""
    rows = as_dicts(named_objects("dict"))
    for row in rows:
        row["len"] = call(protocol.DictLen(dict_id=row["id"])).len
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="dicts")
    for column in ("name", "id", "entries", "created"):
        table.add_column(column, justify="right" if column == "entries" else "left")
    for row in rows:
        table.add_row(row["name"], row["id"], str(row["len"]), _when(row["created"]))
    Console().print(table)


@dict_group.command()
@click.argument("name")
@click.argument("n", type=click.IntRange(min=0), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys and values as repr).")
def items(name: str, n: int | None, as_json: bool) -> None:
    """Show a dict's entries (the first N when N is given)."""
    with errors():
        pairs = [(repr(k), repr(v)) for k, v in
                 itertools.islice(Dict.from_name(name).items(), n)]
    if as_json:
        click.echo(json.dumps([{"key": k, "value": v} for k, v in pairs], indent=2))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"dict {name}")
    table.add_column("key")
    table.add_column("value")
    for key, value in pairs:
        table.add_row(Text(key), Text(value))  # Text: a repr like "[b]" is not rich markup
    Console().print(table)


@dict_group.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def clear(name: str, yes: bool) -> None:
    """Remove every entry of a dict."""
    if not yes:
        click.confirm(f"remove every entry of dict {name}?", abort=True)
    with errors():
        Dict.from_name(name).clear()
    click.echo(f"cleared dict {name}")


@dict_group.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete a dict and its entries."""
    if not yes:
        click.confirm(f"delete dict {name} and all its entries?", abort=True)
    with errors():
        Dict.delete(name)
    click.echo(f"deleted dict {name}")


def _when(created: float) -> str:
    return dt.datetime.fromtimestamp(created).strftime("%Y-%m-%d %H:%M:%S")
