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
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete environment NAME: its apps stop, and its named objects and secrets are gone."""
    if not yes:
        click.confirm(f"Delete environment {name!r} with all its apps, volumes, dicts, queues "
                      "and secrets?", abort=True)
    call(protocol.EnvironmentDelete(name=name))
    click.echo(f"deleted environment {name}")
