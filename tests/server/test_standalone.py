"""A standalone ``ketch server``: clients in other processes share it and its results."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

SPAWN = """
import ketch
from apps import basic
with basic.app.run(detach=True):
    print(basic.square.remote(9))
    call = basic.slow.spawn(0.5)
    print(call.object_id)
"""

FETCH = """
import sys, ketch
print(ketch.FunctionCall.from_id(sys.argv[1]).get(timeout=30))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "KETCH_HOME": str(tmp_path / "home")}
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ketch.cli", "server", "--port", str(port)], env=env,
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    assert proc.wait(timeout=30) == 0
    log.close()


def client(code: str, address: str, *args: str) -> str:
    env = {**os.environ, "KETCH_SERVER": address, "PYTHONPATH": str(TESTS)}
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                            text=True, timeout=60, cwd=TESTS)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_spawned_result_is_fetched_by_id_from_another_process(server):
    first = client(SPAWN, server).split()
    assert first[0] == "81"
    call_id = first[1]
    assert call_id.startswith("fc-")
    assert client(FETCH, server, call_id).strip() == "0.5"


def test_unreachable_server_gives_a_clear_error():
    port = free_port()
    code = "import ketch\nfrom apps import basic\nwith basic.app.run():\n    pass"
    env = {**os.environ, "KETCH_SERVER": f"127.0.0.1:{port}", "PYTHONPATH": str(TESTS)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=60, cwd=TESTS)
    assert result.returncode != 0
    assert "cannot reach the ketch control plane" in result.stderr
    assert "ketch server" in result.stderr
