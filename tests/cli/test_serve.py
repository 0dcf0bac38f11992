"""``ketch serve`` reloads the app when its file changes, at the same URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from server.server_process import free_port, interrupt

APP = '''
import ketch

app = ketch.App("served")


@app.function()
@ketch.fastapi_endpoint()
def version():
    return "{version}"
'''


def wait_for(url: str, text: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).json() == text:
                return True
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    return False


def start_serve(source: Path, home: Path, **popen: Any) -> tuple[subprocess.Popen, str]:
    """``ketch serve SOURCE`` in a session of its own; the process and its endpoint's URL."""
    port = free_port()
    env = {**os.environ, "KETCH_HOME": str(home), "KETCH_GATEWAY_PORT": str(port),
           "KETCH_SERVER": ""}
    proc = subprocess.Popen([sys.executable, "-m", "ketch.cli", "serve", str(source)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, **popen)
    return proc, f"http://127.0.0.1:{port}/served-version"


def test_serve_reloads_on_change(tmp_path):
    source = tmp_path / "served.py"
    source.write_text(APP.format(version="v1"))
    proc, url = start_serve(source, tmp_path / "home")
    try:
        assert wait_for(url, "v1")
        source.write_text(APP.format(version="v2"))
        assert wait_for(url, "v2")
    finally:
        interrupt(proc)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_serve_alone_stops_its_app_even_in_a_background_job(tmp_path, signum):
    # started as a shell starts a background job (SIGINT ignored); the signal goes to `ketch
    # serve` alone, not to its process group, as `kill` sends it
    source = tmp_path / "served.py"
    source.write_text(APP.format(version="v1"))
    proc, url = start_serve(source, tmp_path / "home",
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert wait_for(url, "v1")
        os.kill(proc.pid, signum)
        assert proc.wait(timeout=30) is not None
        with pytest.raises(httpx.ConnectError):  # the app stopped with it
            httpx.get(url, timeout=5)
    finally:
        if proc.poll() is None:
            interrupt(proc)
