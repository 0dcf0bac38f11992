"""Blocking control-plane requests for CLI commands, with ketch's errors as one-line messages."""

from __future__ import annotations

from typing import Any

import click

from .. import exception, synchronizer
from ..client import get_client
from ..protocol.client import Request


def call(request: Request) -> Any:
    """Send ``request`` to the control plane (``KETCH_SERVER``, or one embedded here)."""
    async def go() -> Any:
        client = await get_client()
        return await client.request(request)

    try:
        return synchronizer.run(go())
    except exception.Error as exc:
        raise click.ClickException(str(exc)) from exc
