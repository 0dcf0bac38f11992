"""``ketch secret``: create, list and delete named secrets. Values go in, never come out."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import click

from .. import exception
from .pairs import parse_pairs


@click.group("secret")
def secret_group() -> None:
    """Manage secrets: named sets of environment variables for functions."""


def _call(action: Callable[[], Any]) -> Any:
    """Run ``action``, showing a ketch error as a one-line message with its fix."""
    try:
        return action()
    except exception.Error as exc:
        raise click.ClickException(str(exc)) from None


def _request(request: tuple[str, dict[str, Any]]) -> Any:
    """Send one request to the control plane (``KETCH_SERVER``'s, or one started here)."""
    from .. import synchronizer
    from ..client import get_client

    async def send() -> Any:
        return await (await get_client()).request(request)

    return _call(lambda: synchronizer.run(send()))


@secret_group.command("create")
@click.argument("name")
@click.argument("pairs", nargs=-1, metavar="KEY=VALUE...")
@click.option("--from-dotenv", type=click.Path(exists=True, dir_okay=False),
              help="Also take the variables of this .env file (KEY=VALUE arguments win).")
@click.option("--force", is_flag=True, help="Replace the secret's keys if it exists.")
def create(name: str, pairs: tuple[str, ...], from_dotenv: str | None, force: bool) -> None:
    """Store secret NAME with the given keys (replacing all of them with --force).

    Values given here stay in your shell history; --from-dotenv keeps them out of it.
    """
    from ..dotenv import read_dotenv
    from ..protocol import client as protocol

    values = _call(lambda: read_dotenv(from_dotenv)) if from_dotenv else {}
    values.update(parse_pairs(pairs, "KEY=VALUE..."))
    if not values:
        raise click.UsageError(f"give the secret at least one key: ketch secret create {name} "
                               "KEY=VALUE")
    _request(protocol.secret_create(name, values, overwrite=force))
    click.echo(f"saved secret {name!r} with the keys {', '.join(sorted(values))}")
    click.echo(f"use it with @app.function(secrets=[ketch.Secret.from_name({name!r})])")


@secret_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_secrets(as_json: bool) -> None:
    """List named secrets: names and when they were created, never values."""
    from ..protocol import client as protocol

    rows = _request(protocol.object_list("secret"))["objects"]
    listed = [{"name": row["name"], "created": _iso(row["created"])} for row in rows]
    if as_json:
        click.echo(json.dumps(listed, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="secrets")
    table.add_column("name")
    table.add_column("created (UTC)")
    for row in listed:
        table.add_row(row["name"], row["created"])
    Console().print(table)


@secret_group.command("delete")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, hidden=True)  # Modal's scripts pass it; nothing asks
def delete(name: str, yes: bool) -> None:
    """Delete secret NAME. Running apps start their next containers without its keys."""
    from ..secret import Secret

    _call(lambda: Secret.objects.delete(name))
    click.echo(f"deleted secret {name!r}")


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds")
