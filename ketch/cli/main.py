"""``ketch``: the command-line entry point."""

from __future__ import annotations

import logging
import sys

import click

from .. import exception
from .app import app_group
from .deploy import deploy
from .dict import dict_group
from .environment import environment_group
from .image import image
from .nfs import nfs_group
from .python import python
from .queue import queue_group
from .requests import env_option
from .run import run
from .sandbox import sandbox_group
from .secret import secret_group
from .serve import serve
from .server import server
from .shell import shell
from .token import token_group
from .usage import usage
from .volume import volume_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ketch")
def cli() -> None:
    """Self-hosted serverless compute for Python, with Modal's API."""
    logging.basicConfig(format="ketch: %(message)s", level=logging.WARNING)


for command in (run, python, shell, usage, deploy, serve):
    env_option(command)
for group in (app_group, dict_group, nfs_group, queue_group, sandbox_group, secret_group,
              volume_group):
    for command in group.commands.values():
        env_option(command)
for command in (run, image, python, server, usage, shell, app_group, deploy, serve, dict_group,
                environment_group, nfs_group, queue_group, sandbox_group, secret_group,
                token_group, volume_group):
    cli.add_command(command)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except exception.Error as exc:  # ketch's own errors say what to do: no traceback needed
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
