"""Blocking control-plane requests for CLI commands, with ketch's errors as one-line messages;
the ``--env`` option every command that names apps or objects takes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

import click
import msgspec

from .. import config, exception
from ..client import send_blocking
from ..protocol import client as protocol
from ..protocol.message import Message, Request


@contextlib.contextmanager
def errors() -> Iterator[None]:
    """ketch's errors (no such object, …) become one line on stderr, not a traceback."""
    try:
        yield
    except exception.Error as exc:
        raise click.ClickException(str(exc)) from None


def call(request: Request) -> Any:
    """Send ``request`` to the control plane (``KETCH_SERVER``, or one embedded here)."""
    with errors():
        return send_blocking(request)


def create_object(kind: protocol.ObjectKind, name: str) -> None:
    """``ketch <kind> create NAME``."""
    answer = call(protocol.ObjectLookup(kind=kind, name=name, create_if_missing=True,
                                        environment=config.environment()))
    if not answer.created:
        raise click.ClickException(f"a {kind} named {name!r} already exists")
    click.echo(f"created {kind} {name}")


def named_objects(kind: protocol.ObjectKind) -> list[protocol.ObjectInfo]:
    return call(protocol.ObjectList(kind=kind, environment=config.environment())).objects  # type: ignore[no-any-return]


def as_dicts(records: Iterable[Message]) -> list[dict[str, Any]]:
    """Records as JSON-ready dicts, for ``--json``."""
    return [msgspec.structs.asdict(record) for record in records]


def _use_environment(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        os.environ["KETCH_ENVIRONMENT"] = value


def env_option(command: click.Command) -> None:
    """Give ``command`` ``-e/--env NAME``: the environment it works in (as KETCH_ENVIRONMENT);
    not to a command whose own ``--env`` means something else (a process's variables)."""
    if any(opt in ("-e", "--env") for param in command.params for opt in param.opts):
        return
    click.option(
        "-e", "--env", "environment", expose_value=False, is_eager=True,
        callback=_use_environment, metavar="NAME",
        help="The environment to use (default: KETCH_ENVIRONMENT, else the token's own).",
    )(command)
