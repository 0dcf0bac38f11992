"""Blocking control-plane requests for CLI commands, with ketch's errors as one-line messages."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import click

from .. import exception
from ..client import send_blocking
from ..protocol import client as protocol
from ..protocol.client import Request


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


def create_object(kind: str, name: str) -> None:
    """``ketch <kind> create NAME``."""
    if not call(protocol.object_lookup(kind, name, True))["created"]:
        raise click.ClickException(f"a {kind} named {name!r} already exists")
    click.echo(f"created {kind} {name}")
