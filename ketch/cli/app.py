"""``ketch app``: the apps on the control plane, their versions and their logs."""

from __future__ import annotations

import datetime as dt
import json

import click

from .. import config
from ..protocol import client as protocol
from .requests import as_dicts, call
from .usage import parse_when


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


@click.group("app")
def app_group() -> None:
    """List, stop, roll back and read the logs of apps."""


@app_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_apps(as_json: bool) -> None:
    """Apps that run now, deployed or not."""
    apps = call(protocol.AppList(environment=config.environment())).apps
    if as_json:
        click.echo(json.dumps(as_dicts(apps), indent=2))
        return
    for app in apps:
        version = f"v{app.version}" if app.version else "ephemeral"
        click.echo(f"{app.name:<24} {version:<10} {app.state:<9} {app.app_id}  "
                   f"since {_when(app.created)}")


@app_group.command()
@click.argument("name")
def stop(name: str) -> None:
    """Stop a deployed app."""
    call(protocol.AppStopByName(name=name, environment=config.environment()))
    click.echo(f"stopped {name}")


@app_group.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
def history(name: str, as_json: bool) -> None:
    """The deployed versions of an app."""
    versions = call(protocol.AppHistory(name=name, environment=config.environment())).versions
    if as_json:
        click.echo(json.dumps(as_dicts(versions), indent=2))
        return
    for v in versions:
        click.echo(f"v{v.version:<4} {v.state:<9} {_when(v.created)}  {v.app_id}")


@app_group.command()
@click.argument("name")
@click.argument("version", type=int, required=False)
def rollback(name: str, version: int | None) -> None:
    """Deploy an earlier VERSION (default: the one before the current) again."""
    answer = call(protocol.AppRollback(name=name, version=version,
                                       environment=config.environment()))
    click.echo(f"rolled {name} back: version {answer.version} runs the code of "
               f"version {answer.from_version}")


@app_group.command()
@click.argument("name")
@click.option("--function", help="Only this function's containers.")
@click.option("--since", help="From this date, UTC time or age (1h).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(name: str, function: str | None, since: str | None, follow: bool) -> None:
    """What the app's containers printed."""
    cursor = None
    while True:
        answer = call(protocol.AppLogs(name=name, since=parse_when(since), function=function,
                                       cursor=cursor, timeout=5.0 if follow else 0,
                                       environment=config.environment()))
        for line in answer.lines:
            click.echo(f"{_when(line.ts)} [{line.function} {line.container_id[-4:]}] "
                       f"{line.text}")
        cursor = answer.cursor
        if not follow:
            return
