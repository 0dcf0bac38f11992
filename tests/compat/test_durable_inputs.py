"""Inputs a control plane accepted survive its crash: a real ``ketch server`` is killed with
SIGKILL while spawned calls and a ``.map`` run, started again on the same state, and every
call then ends with its result (run again) or with an error saying the control plane
restarted, never with a wait that does not end."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from server.server_process import TESTS, ServerProcess

SPAWN_DEPLOYED = """
import sys, ketch
marks = sys.argv[1]
retried = ketch.Function.from_name("durable", "retried")
once = ketch.Function.from_name("durable", "once")
for f, x in ((retried, 1), (retried, 2), (once, 1), (once, 2)):
    print(f.spawn(x, marks).object_id)
"""

SPAWN_LONG = """
import sys, ketch
print(ketch.Function.from_name("durable", "retried").spawn(3, sys.argv[1], 30.0).object_id)
"""

MAP = """
import sys, ketch
marks = sys.argv[1]
{setup}
try:
    print(list(retried.map([6, 7], kwargs={{"marks": marks}})))
except ketch.exception.ConnectionError as exc:
    print("lost:", exc, flush=True)
"""
MAP_DEPLOYED = MAP.format(setup='retried = ketch.Function.from_name("durable", "retried")')

DETACHED = """
import sys, ketch
from apps import durable
marks = sys.argv[1]
with durable.app.run(detach=True):
    print(durable.retried.spawn(5, marks).object_id, flush=True)
    try:
        print(list(durable.retried.map([6, 7], kwargs={"marks": marks})))
    except ketch.exception.ConnectionError as exc:
        print("lost:", exc, flush=True)
"""

FETCH = """
import sys, ketch
call_id, index = sys.argv[1], int(sys.argv[2])
try:
    print(ketch.FunctionCall.from_id(call_id).get(timeout=60, index=index))
except ketch.exception.TimeoutError as exc:
    print("timeout:", exc)
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
"""


def wait_for(marks: Path, names: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not all((marks / name).exists() for name in names):
        if time.monotonic() > deadline:
            found = sorted(p.name for p in marks.iterdir())
            pytest.fail(f"inputs {names} did not all start within {timeout}s; started: {found}")
        time.sleep(0.05)
    time.sleep(0.6)  # the control plane records "started" on its next tick (0.2 s)


def background(server: ServerProcess, code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code, *args], env=server.env(), cwd=TESTS,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def map_call_id(process: subprocess.Popen[str]) -> str:
    out, err = process.communicate(timeout=60)
    found = re.search(r"map call (fc-[0-9a-f]+)", out)
    assert found, f"the map's caller did not name its call:\n{out}\n{err}"
    return found.group(1)


def fetch(server: ServerProcess, call_id: str, index: int = 0) -> str:
    return server.client(FETCH, call_id, str(index)).strip()


def test_calls_of_a_deployed_app_run_again_or_fail_clearly_after_a_kill(server, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    deployed = server.cli("deploy", str(TESTS / "apps" / "durable.py"))
    assert deployed.returncode == 0, deployed.stderr
    ids = server.client(SPAWN_DEPLOYED, str(marks)).split()
    mapping = background(server, MAP_DEPLOYED, str(marks))
    wait_for(marks, ["retried-1", "retried-2", "retried-6", "retried-7", "once-1"])
    assert not (marks / "once-2").exists()  # queued behind once-1 (max_containers=1)
    server.kill()
    map_id = map_call_id(mapping)
    server.start()
    retried_1, retried_2, once_1, once_2 = (fetch(server, i) for i in ids)
    assert (retried_1, retried_2) == ("10", "20")  # retries=2: run again, an attempt charged
    assert once_1.startswith("ContainerDiedError: the control plane restarted while this input")
    assert "no retries" in once_1
    assert once_2 == "20"  # it never ran, so it runs now without an attempt charged
    assert [fetch(server, map_id, i) for i in (0, 1)] == ["60", "70"]


def test_each_kill_is_an_attempt_and_spent_retries_end_in_an_error(server, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    deployed = server.cli("deploy", str(TESTS / "apps" / "durable.py"))
    assert deployed.returncode == 0, deployed.stderr
    call_id = server.client(SPAWN_LONG, str(marks)).strip()
    for _ in range(3):  # the first attempt and its two retries, each cut short by a kill
        wait_for(marks, ["retried-3"])
        (marks / "retried-3").unlink()
        server.kill()
        server.start()
    answer = fetch(server, call_id)
    assert answer.startswith("ContainerDiedError: the control plane restarted while this input"
                             " of 'retried' ran; it was tried 3 times"), answer
    assert "allows 2 retries, all spent" in answer


def test_calls_of_a_detached_run_fail_clearly_after_a_kill(server, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    run = background(server, DETACHED, str(marks))
    wait_for(marks, ["retried-5", "retried-6", "retried-7"])
    server.kill()
    out, err = run.communicate(timeout=60)
    spawn_id = out.split()[0]
    found = re.search(r"map call (fc-[0-9a-f]+)", out)
    assert found, f"the map's caller did not name its call:\n{out}\n{err}"
    server.start()
    for call_id, index in ((spawn_id, 0), (found.group(1), 0), (found.group(1), 1)):
        answer = fetch(server, call_id, index)
        assert answer.startswith("ContainerDiedError: the control plane restarted"), answer
        assert "'durable' was not deployed" in answer
