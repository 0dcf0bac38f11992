"""One exec's output that nobody reads neither freezes the sandbox's other execs nor grows the
control plane's memory: past `Stream.LIMIT` its oldest unread bytes are dropped, and said so."""

from __future__ import annotations

import threading

import pytest
from sandbox_runtimes import RUNTIMES

import ketch
from ketch import client, synchronizer
from ketch.server.sandbox_state import Stream

NOISE = 40 << 20


def control_plane():
    return synchronizer.run(client.get_client()).transport.control_plane


def within(seconds: float, work):
    """``work()``'s result, or a failure if it has not returned after ``seconds`` (a frozen
    sandbox would otherwise hang the test)."""
    result: list = []
    worker = threading.Thread(target=lambda: result.append(work()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, f"still waiting after {seconds:g} s"
    return result[0]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_unread_40_mib_stream_blocks_no_other_exec(runtime):
    app = ketch.App.lookup("sandbox-streams", create_if_missing=True)
    sb = ketch.Sandbox.create(app=app, runtime=runtime, timeout=300)
    try:
        noisy = sb.exec("python", "-c", f"import sys; sys.stdout.buffer.write(b'n' * {NOISE}); "
                        "sys.stdout.flush(); print('the end')")
        assert within(120, noisy.wait) == 0  # it ran to its end, unread
        quiet = sb.exec("echo", "still here")
        assert within(60, quiet.stdout.read) == "still here\n"
        tail = within(60, noisy.stdout.read)
        assert tail.endswith("the end\n") and len(tail) <= Stream.LIMIT  # the newest kept
        process = control_plane().sandboxes.sandboxes[sb.object_id].procs[1]
        assert process.stdout.dropped >= NOISE - Stream.LIMIT
        lines = [line for line in control_plane().state.apps[app.app_id].logs._lines
                 if line.container_id == sb.object_id and "nobody read" in line.text]
        assert len(lines) == 1  # said once, not per frame
    finally:
        sb.terminate()
