"""``ketch server``: a standalone control plane and worker that clients reach by address."""

from __future__ import annotations

import asyncio
import os
import signal

import click

from .. import config, exception
from ..server import ControlPlane


async def _serve(host: str, port: int, gateway_port: int, max_containers: int | None) -> None:
    control_plane = ControlPlane(config.home(), listen=f"{host}:{port}",
                                 max_containers=max_containers)
    _ensure_token(control_plane)  # before it listens: a client may connect at once
    await control_plane.start()
    await control_plane.gateway.start(host, gateway_port)
    config.write_private_json("server.json",
                              {"address": control_plane.address, "pid": str(os.getpid())})
    click.echo(f"ketch server listening on {control_plane.address} (state in {config.home()})")
    click.echo(f"clients: export KETCH_SERVER={control_plane.address}")
    click.echo(f"web endpoints: {control_plane.gateway.base_url}/<label>")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    (config.home() / "server.json").unlink(missing_ok=True)
    await control_plane.close()


def _ensure_token(control_plane: ControlPlane) -> None:
    """The user who runs the server gets a token of their own, with no set-up step."""
    token = config.credentials()
    try:
        control_plane.tokens.verify(token.get("token_id", ""), token.get("secret", ""), "user")
    except exception.Error:
        token_id, secret = control_plane.tokens.create("user")
        path = config.write_private_json("token.json",
                                         {"token_id": token_id, "token_secret": secret})
        click.echo(f"made a token for this user in {path}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7077, show_default=True, type=int)
@click.option("--gateway-port", default=7078, show_default=True, type=int,
              help="Port of the HTTP gateway for web endpoints (0: any free one).")
@click.option("--max-containers", type=int, default=None,
              help="Containers this machine runs at once (default: 4 per core).")
def server(host: str, port: int, gateway_port: int, max_containers: int | None) -> None:
    """Run the control plane, this machine's worker and the web gateway until interrupted."""
    asyncio.run(_serve(host, port, gateway_port, max_containers))
