"""``ketch volume``: create, inspect and change volumes from the command line."""

from __future__ import annotations

import json
import os
import sys

import click

from ..protocol import client as protocol
from ..volume import FileEntry, FileEntryType, Volume
from .requests import as_dicts, create_object, named_objects


@click.group("volume")
def volume_group() -> None:
    """Manage volumes."""


@volume_group.command()
@click.argument("name")
@click.option("--version", type=click.Choice(["1", "2"]), default=None,
              help="Modal's volume format; ketch stores both the same way.")
def create(name: str, version: str | None) -> None:
    """Create a volume."""
    create_object("volume", name)


@volume_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_volumes(as_json: bool) -> None:
    """List volumes."""
    list_objects("volume", as_json)


def list_objects(kind: protocol.ObjectKind, as_json: bool) -> None:
    objects = named_objects(kind)
    if as_json:
        click.echo(json.dumps(as_dicts(objects), indent=2))
    else:
        for obj in objects:
            click.echo(obj.name)


@volume_group.command()
@click.argument("name")
@click.argument("path", default="/")
@click.option("--json", "as_json", is_flag=True)
def ls(name: str, path: str, as_json: bool) -> None:
    """List files in a volume."""
    print_entries(Volume.from_name(name).listdir(path), as_json)


def print_entries(entries: list[FileEntry], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([{"path": e.path, "type": e.type.name.lower(), "size": e.size,
                                "mtime": e.mtime} for e in entries], indent=2))
        return
    for e in entries:
        suffix = "/" if e.type == FileEntryType.DIRECTORY else ""
        click.echo(f"{e.size:>12}  {e.path}{suffix}")


@volume_group.command()
@click.argument("name")
@click.argument("local_path", type=click.Path(exists=True))
@click.argument("remote_path", default="/")
@click.option("-f", "--force", is_flag=True, help="Overwrite files that exist.")
def put(name: str, local_path: str, remote_path: str, force: bool) -> None:
    """Upload a file or a directory."""
    volume = Volume.from_name(name)
    with volume.batch_upload(force=force) as batch:
        if os.path.isdir(local_path):
            batch.put_directory(local_path, remote_path)
        else:
            target = remote_path
            if remote_path.endswith("/"):
                target = remote_path + os.path.basename(local_path)
            batch.put_file(local_path, target)
    click.echo(f"uploaded {local_path} to {name}:{remote_path}")


@volume_group.command()
@click.argument("name")
@click.argument("remote_path")
@click.argument("local_path", default=".")
def get(name: str, remote_path: str, local_path: str) -> None:
    """Download a file (LOCAL_PATH '-' writes it to standard output)."""
    volume = Volume.from_name(name)
    if local_path == "-":
        volume.read_file_into_fileobj(remote_path, sys.stdout.buffer)
        return
    if os.path.isdir(local_path):
        local_path = os.path.join(local_path, os.path.basename(remote_path))
    with open(local_path, "wb") as f:
        volume.read_file_into_fileobj(remote_path, f)
    click.echo(f"wrote {local_path}")


@volume_group.command()
@click.argument("name")
@click.argument("path")
@click.option("-r", "--recursive", is_flag=True)
def rm(name: str, path: str, recursive: bool) -> None:
    """Remove a file or directory."""
    Volume.from_name(name).remove_file(path, recursive=recursive)


@volume_group.command()
@click.argument("name")
@click.argument("paths", nargs=-1, required=True)
def cp(name: str, paths: tuple[str, ...]) -> None:
    """Copy files within a volume: cp NAME SRC... DST."""
    if len(paths) < 2:
        raise click.UsageError("give one or more sources and a destination")
    Volume.from_name(name).copy_files(list(paths[:-1]), paths[-1])


@volume_group.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete a volume and its files."""
    if not yes:
        click.confirm(f"delete volume {name} and all its files?", abort=True)
    Volume.delete(name)
    click.echo(f"deleted volume {name}")


@volume_group.command()
@click.argument("old_name")
@click.argument("new_name")
def rename(old_name: str, new_name: str) -> None:
    """Rename a volume."""
    Volume.rename(old_name, new_name)
