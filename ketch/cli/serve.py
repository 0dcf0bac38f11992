"""``ketch serve``: run an app until interrupted, starting it again whenever its files change."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import click

from .. import config


@click.command()
@click.argument("ref")
@click.option("-m", "as_module", is_flag=True, help="REF is a module name, as with python -m.")
def serve(ref: str, as_module: bool) -> None:
    """Serve the app in REF (its web endpoints and schedules), reloading on file changes."""
    from watchfiles import watch

    path = ref.partition("::")[0]
    watched = os.getcwd() if as_module else os.path.dirname(os.path.abspath(path))
    env = dict(os.environ)
    if not env.get("KETCH_GATEWAY_PORT") and config.server_address() is None:
        env["KETCH_GATEWAY_PORT"] = "7078"  # embedded: keep the URLs across reloads
    child = _start(ref, as_module, env)
    try:
        for changes in watch(watched, watch_filter=lambda _, name: name.endswith(".py")):
            click.echo(f"ketch: {len(changes)} file(s) changed; reloading", err=True)
            _stop(child)
            child = _start(ref, as_module, env)
    except KeyboardInterrupt:
        pass
    finally:
        _stop(child)


def _start(ref: str, as_module: bool, env: dict[str, str]) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "ketch.cli", "run", ref, "--serve"]
    if as_module:
        args.insert(4, "-m")
    return subprocess.Popen(args, env=env)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    time.sleep(0.1)  # let the gateway's port be free again
