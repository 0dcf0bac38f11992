"""``ketch serve``: run an app until interrupted, starting it again whenever its files change.

An app that fails to start (a function that can never fit, a gateway port in use, an import
error) ends ``ketch serve`` with its status, as ``modal serve`` does; after a reload, a failure
is reported and the next change starts it again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import click

from .. import config

POLL_MS = 500  # how often the watcher looks at whether the app's process has ended


@click.command()
@click.argument("ref")
@click.option("-m", "as_module", is_flag=True, help="REF is a module name, as with python -m.")
@click.option("--timeout", type=float, default=None,
              help="Stop serving after this many seconds (default: KETCH_SERVE_TIMEOUT or "
                   "MODAL_SERVE_TIMEOUT, else never).")
def serve(ref: str, as_module: bool, timeout: float | None) -> None:
    """Serve the app in REF (its web endpoints and schedules), reloading on file changes."""
    from watchfiles import watch

    path = ref.partition("::")[0]
    watched = os.getcwd() if as_module else os.path.dirname(os.path.abspath(path))
    env = dict(os.environ)
    if not env.get("KETCH_GATEWAY_PORT") and config.server_address() is None:
        env["KETCH_GATEWAY_PORT"] = "7078"  # embedded: keep the URLs across reloads
    deadline = time.monotonic() + (timeout if timeout is not None else _timeout_from_env())
    _stop_on_signals()
    child = _start(ref, as_module, env)
    reloaded, reported = False, False
    try:
        for changes in watch(watched, watch_filter=lambda _, name: name.endswith(".py"),
                             rust_timeout=POLL_MS, yield_on_timeout=True):
            if changes:
                click.echo(f"ketch: {len(changes)} file(s) changed; reloading", err=True)
                _stop(child)
                child = _start(ref, as_module, env)
                reloaded, reported = True, False
            elif child.poll() is not None and not reloaded:
                code = child.returncode
                sys.exit(code if code >= 0 else 128 - code)  # a signal's death, as shells say
            elif child.poll() is not None and not reported:
                click.echo(f"ketch: the app stopped (status {child.returncode}); it starts "
                           "again when a file changes", err=True)
                reported = True
            if time.monotonic() >= deadline:
                break
    except KeyboardInterrupt:
        pass
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C: _stop is bounded
            signal.signal(signum, signal.SIG_IGN)
        _stop(child)


def _timeout_from_env() -> float:
    raw = os.environ.get("KETCH_SERVE_TIMEOUT") or os.environ.get("MODAL_SERVE_TIMEOUT")
    if not raw:
        return float("inf")
    try:
        return float(raw)
    except ValueError:
        raise click.UsageError(f"KETCH_SERVE_TIMEOUT/MODAL_SERVE_TIMEOUT is {raw!r}; give a "
                               "number of seconds") from None


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the app before ``ketch serve`` ends. Python raises
    KeyboardInterrupt on SIGINT only where SIGINT was not ignored when it started (a shell's
    background job), and SIGTERM would end this process alone, leaving the app serving."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


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
