"""``ketch secret``: create, list and delete named secrets. Values go in, never come out."""

from __future__ import annotations

import datetime as dt
import json

import click

from .. import config
from ..protocol import client as protocol
from .pairs import parse_pairs
from .requests import call, errors


@click.group("secret")
def secret_group() -> None:
    """Manage secrets: named sets of environment variables for functions."""


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

    with errors():
        values = read_dotenv(from_dotenv) if from_dotenv else {}
    values.update(parse_pairs(pairs, "KEY=VALUE..."))
    if not values:
        raise click.UsageError(f"give the secret at least one key: ketch secret create {name} "
                               "KEY=VALUE")
    call(protocol.SecretCreate(name=name, values=values, overwrite=force,
                               environment=config.environment()))
    click.echo(f"saved secret {name!r} with the keys {', '.join(sorted(values))}")
    click.echo(f"use it with @app.function(secrets=[ketch.Secret.from_name({name!r})])")


@secret_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_secrets(as_json: bool) -> None:
    """List named secrets: names and when they were created, never values."""
    rows = call(protocol.ObjectList(kind="secret", environment=config.environment())).objects
    listed = [{"name": row.name, "created": _iso(row.created)} for row in rows]
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

    with errors():
        Secret.objects.delete(name)
    click.echo(f"deleted secret {name!r}")


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="seconds")
