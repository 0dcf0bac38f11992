"""``ketch environment``: the environments of the server, which keep teams' apps, objects and
secrets apart (``dev`` and ``prod`` on one server, say)."""

from __future__ import annotations

import datetime as dt
import json

import click

from .. import config
from ..protocol import client as protocol
from .requests import as_dicts, call


@click.group("environment")
def environment_group() -> None:
    """Create, list and delete environments."""


@environment_group.command()
@click.argument("name")
def create(name: str) -> None:
    """Create environment NAME (a token for every environment may)."""
    call(protocol.EnvironmentCreate(name=name))
    click.echo(f"created environment {name}; use it with --env {name} or "
               f"KETCH_ENVIRONMENT={name}")


@environment_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_environments(as_json: bool) -> None:
    """The environments this token may use; the active one is marked."""
    environments = call(protocol.EnvironmentList()).environments
    active = config.environment() or next((e.name for e in environments if e.default), "")
    if as_json:
        click.echo(json.dumps(as_dicts(environments), indent=2))
        return
    for env in environments:
        created = dt.datetime.fromtimestamp(env.created).strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{'*' if env.name == active else ' '} {env.name:<24} since {created}")


@environment_group.command()
@click.argument("name")
@click.option("--set-name", "new_name", help="Rename it; its apps and objects go with it.")
@click.option("--set-web-suffix", "web_suffix",
              help="What its web endpoints' labels end with ('' for nothing).")
def update(name: str, new_name: str | None, web_suffix: str | None) -> None:
    """Rename environment NAME, or set the suffix of its web endpoints' labels."""
    if new_name is None and web_suffix is None:
        raise click.UsageError("give --set-name or --set-web-suffix")
    call(protocol.EnvironmentUpdate(name=name, new_name=new_name, web_suffix=web_suffix))
    click.echo(f"updated environment {name}")


@environment_group.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def roles(name: str, as_json: bool) -> None:
    """Each token's role in environment NAME (grant one with `ketch token grant`)."""
    tokens = call(protocol.EnvironmentRoles(environment=name)).tokens
    if as_json:
        click.echo(json.dumps(tokens, indent=2))
        return
    for token_id, role in tokens.items():
        click.echo(f"{token_id}  {role}")


@environment_group.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete environment NAME: its apps stop, and its named objects and secrets are gone."""
    if not yes:
        click.confirm(f"Delete environment {name!r} with all its apps, volumes, dicts, queues "
                      "and secrets?", abort=True)
    call(protocol.EnvironmentDelete(name=name))
    click.echo(f"deleted environment {name}")
