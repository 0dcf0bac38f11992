"""``ketch server``: a standalone control plane and worker that clients reach by address.

With ``--backend ray`` its containers run on a Ray cluster (see docs/ray.md)."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
from collections.abc import Callable
from pathlib import Path

import click

from .. import config, exception
from ..protocol.worker import Worker, WorkerEvents
from ..server import ControlPlane
from ..server import tls as server_tls


async def _serve(host: str, port: int, gateway_port: int, dashboard_port: int,
                 max_containers: int | None,
                 worker: Callable[[WorkerEvents], Worker] | None,
                 tls: server_tls.ServerTls | None) -> None:
    control_plane = ControlPlane(config.home(), listen=f"{host}:{port}",
                                 max_containers=max_containers, worker=worker,
                                 tls=tls.context() if tls else None)
    _ensure_token(control_plane)  # before it listens: a client may connect at once
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before it listens: a stop may come at once
        loop.add_signal_handler(sig, stop.set)
    # the gateway first: the deployed apps that start() brings back would otherwise start it
    # on the defaults (any port, loopback, no TLS) for their web endpoints
    await control_plane.gateway.start(host, gateway_port, tls)
    await control_plane.start()
    await control_plane.dashboard.start(host, dashboard_port, tls)
    published = {"address": control_plane.address, "pid": str(os.getpid()),
                 "dashboard": control_plane.dashboard.base_url}
    if tls is not None:  # this user's clients here pin it from this file
        published["fingerprint"] = tls.fingerprint
    config.write_private_json("server.json", published)
    click.echo(f"ketch server listening on {control_plane.address}"
               f"{' over TLS' if tls else ''} (state in {config.home()})")
    click.echo(f"clients: export KETCH_SERVER={control_plane.address}")
    if tls is not None:
        click.echo(f"TLS certificate {tls.cert}, fingerprint {tls.fingerprint}")
        click.echo(f"clients elsewhere pin it: ketch token pin {tls.fingerprint}")
    gateway = control_plane.gateway
    click.echo(f"web endpoints: {gateway.scheme}://<label>.{gateway.settings.domain}:"
               f"{gateway.port}/ and {gateway.base_url}/<label>/")
    click.echo(f"dashboard: {control_plane.dashboard.base_url} (sign in with a user token; "
               "Prometheus metrics at /metrics)")
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


def _tls(host: str, cert: str | None, key: str | None, backend: str | None
         ) -> server_tls.ServerTls | None:
    chosen = server_tls.choose(host, Path(cert) if cert else None, Path(key) if key else None,
                               config.home())
    if chosen is not None and (backend or config.settings().get("backend")) == "ray":
        # its containers reach the control plane from other nodes, over TCP, unpinned
        raise click.UsageError(
            f"--backend ray cannot serve TLS yet (it would on --host {host}): containers on "
            "other nodes do not pin a certificate. Run it on --host 127.0.0.1 (one machine) "
            "or, on a private network you trust, with --no-tls")
    return chosen


def _worker(backend: str | None, ray_address: str | None, max_containers: int | None
            ) -> Callable[[WorkerEvents], Worker] | None:
    """The worker of ``backend`` (the flag, else ``backend`` in config.toml, else local)."""
    settings = config.settings()
    chosen = backend or settings.get("backend") or "local"
    if chosen == "local":
        return None
    if chosen != "ray":
        raise click.UsageError(f"unknown backend {chosen!r}: use local or ray")
    from ..worker.ray import RayWorker, connect

    address = ray_address or settings.get("ray_address")
    connect(address)
    click.echo(f"containers run on the Ray cluster at {address or 'auto'}")
    return functools.partial(RayWorker, max_containers=max_containers)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; with --backend ray, one the cluster's nodes reach.")
@click.option("--port", default=7077, show_default=True, type=int)
@click.option("--gateway-port", default=7078, show_default=True, type=int,
              help="Port of the HTTP gateway for web endpoints (0: any free one).")
@click.option("--dashboard-port", default=7079, show_default=True, type=int,
              help="Port of the web dashboard and /metrics (0: any free one).")
@click.option("--max-containers", type=int, default=None,
              help="Containers run at once (default: as many as the machine, or the Ray "
                   "cluster, has room for).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default=None,
              help="Where containers run: this machine (local, the default) or a Ray cluster "
                   "(ray); also `backend` in config.toml.")
@click.option("--ray-address", default=None,
              help="The Ray cluster's address, HOST:6379 (default: `ray_address` in "
                   "config.toml, else the cluster `ray start` runs on this machine).")
@click.option("--tls-cert", type=click.Path(dir_okay=False), default=None,
              help="PEM certificate (chain) for the client port and the gateway. Without it, "
                   "a --host other than 127.0.0.1/::1/localhost gets a self-signed one, made "
                   "once in KETCH_HOME/tls.")
@click.option("--tls-key", type=click.Path(dir_okay=False), default=None,
              help="The PEM private key of --tls-cert.")
@click.option("--no-tls", is_flag=True,
              help="Plain TCP even off loopback: tokens and data travel readable. Only on a "
                   "private network you trust (the Ray backend needs it for now).")
def server(host: str, port: int, gateway_port: int, dashboard_port: int,
           max_containers: int | None,
           backend: str | None, ray_address: str | None, tls_cert: str | None,
           tls_key: str | None, no_tls: bool) -> None:
    """Run the control plane, its worker and the web gateway until interrupted."""
    if no_tls and (tls_cert or tls_key):
        raise click.UsageError("--no-tls and --tls-cert/--tls-key contradict: pick one")
    tls = None if no_tls else _tls(host, tls_cert, tls_key, backend)
    worker = _worker(backend, ray_address, max_containers)
    asyncio.run(_serve(host, port, gateway_port, dashboard_port, max_containers, worker, tls))
