"""A standalone ``ketch server``: clients in other processes share it and its results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .server_process import TESTS, free_port

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

KILLED = """
import os, signal, sys
from apps import basic
with basic.app.run(detach=sys.argv[1] == "detach"):
    print(basic.app.app_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""




def test_spawned_result_is_fetched_by_id_from_another_process(server):
    first = server.client(SPAWN).split()
    assert first[0] == "81"
    call_id = first[1]
    assert call_id.startswith("fc-")
    assert server.client(FETCH, call_id).strip() == "0.5"


def test_a_volume_and_its_files_survive_a_restart(server, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"w" * 1000)
    assert server.cli("volume", "create", "keep", "--version", "2").returncode == 0
    assert server.cli("volume", "put", "keep", str(tmp_path / "weights.bin"), "/w.bin").returncode == 0
    server.restart()
    listed = server.cli("volume", "ls", "keep")
    assert "w.bin" in listed.stdout, listed.stderr
    read = "import ketch; print(len(b''.join(ketch.Volume.from_name('keep').read_file('w.bin'))))"
    assert server.client(read).strip() == "1000"


def test_unreachable_server_gives_a_clear_error():
    port = free_port()
    code = "import ketch\nfrom apps import basic\nwith basic.app.run():\n    pass"
    env = {**os.environ, "KETCH_SERVER": f"127.0.0.1:{port}", "PYTHONPATH": str(TESTS)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=60, cwd=TESTS)
    assert result.returncode != 0
    assert "cannot reach the ketch control plane" in result.stderr
    assert "ketch server" in result.stderr


def test_a_run_whose_client_is_killed_stops_unless_detached(server):
    ids = {}
    for mode in ("held", "detach"):
        run = subprocess.run([sys.executable, "-c", KILLED, mode], env=server.env(), cwd=TESTS,
                             capture_output=True, text=True, timeout=90)
        assert run.returncode == -signal.SIGKILL, run.stderr
        ids[mode] = run.stdout.split()[0]
    deadline = time.monotonic() + 15
    while ids["held"] in running_apps(server):
        assert time.monotonic() < deadline, "the killed client's app is still running"
        time.sleep(0.2)
    assert ids["detach"] in running_apps(server)


def running_apps(server) -> str:
    listed = server.cli("app", "list")
    assert listed.returncode == 0, listed.stderr
    return listed.stdout
