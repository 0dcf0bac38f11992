"""``ketch nfs``: create, inspect and change network file systems from the command line."""

from __future__ import annotations

import os
import sys

import click

from ..network_file_system import NetworkFileSystem
from .requests import create_object
from .volume import list_objects, print_entries


@click.group("nfs")
def nfs_group() -> None:
    """Manage network file systems."""


@nfs_group.command()
@click.argument("name")
def create(name: str) -> None:
    """Create a network file system."""
    create_object("nfs", name)


@nfs_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_file_systems(as_json: bool) -> None:
    """List network file systems."""
    list_objects("nfs", as_json)


@nfs_group.command()
@click.argument("name")
@click.argument("path", default="/")
@click.option("--json", "as_json", is_flag=True)
def ls(name: str, path: str, as_json: bool) -> None:
    """List files in a network file system."""
    print_entries(NetworkFileSystem.from_name(name).listdir(path), as_json)


@nfs_group.command()
@click.argument("name")
@click.argument("local_path", type=click.Path(exists=True))
@click.argument("remote_path", default="/")
def put(name: str, local_path: str, remote_path: str) -> None:
    """Upload a file or a directory."""
    nfs = NetworkFileSystem.from_name(name)
    if os.path.isdir(local_path):
        nfs.add_local_dir(local_path, remote_path)
    else:
        target = remote_path + os.path.basename(local_path) if remote_path.endswith("/") \
            else remote_path
        nfs.add_local_file(local_path, target)
    click.echo(f"uploaded {local_path} to {name}:{remote_path}")


@nfs_group.command()
@click.argument("name")
@click.argument("remote_path")
@click.argument("local_path", default="-")
def get(name: str, remote_path: str, local_path: str) -> None:
    """Download a file (LOCAL_PATH '-', the default, writes it to standard output)."""
    data = b"".join(NetworkFileSystem.from_name(name).read_file(remote_path))
    if local_path == "-":
        sys.stdout.buffer.write(data)
        return
    if os.path.isdir(local_path):
        local_path = os.path.join(local_path, os.path.basename(remote_path))
    with open(local_path, "wb") as f:
        f.write(data)
    click.echo(f"wrote {local_path}")


@nfs_group.command()
@click.argument("name")
@click.argument("path")
@click.option("-r", "--recursive", is_flag=True)
def rm(name: str, path: str, recursive: bool) -> None:
    """Remove a file or directory."""
    NetworkFileSystem.from_name(name).remove_file(path, recursive=recursive)


@nfs_group.command()
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, yes: bool) -> None:
    """Delete a network file system and its files."""
    if not yes:
        click.confirm(f"delete network file system {name} and all its files?", abort=True)
    NetworkFileSystem.delete(name)
    click.echo(f"deleted network file system {name}")
