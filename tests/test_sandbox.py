"""Sandboxes through the SDK, on every sandbox runtime this machine has: real supervisors in
real sandboxes, an embedded control plane in this process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
from sandbox_runtimes import RUNTIMES, usable

import ketch
from ketch import client, exception, synchronizer
from ketch.client import send_blocking
from ketch.protocol import client as protocol
from ketch.protocol.definition import SandboxDefinition

pytestmark = pytest.mark.skipif(all(usable(r) for r in ("namespace", "gvisor")),
                                reason="no sandbox runtime works here")


@pytest.fixture(scope="module")
def app() -> ketch.App:
    return ketch.App.lookup("sandbox-tests", create_if_missing=True)


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sb(app: ketch.App, runtime: str):
    sandbox = ketch.Sandbox.create(app=app, runtime=runtime, timeout=120)
    yield sandbox
    sandbox.terminate()


def test_exec_output_status_and_streams(sb):
    p = sb.exec("sh", "-c", "echo out; echo err >&2; exit 3")
    assert p.wait() == 3 and p.returncode == 3
    assert p.stdout.read() == "out\n"
    assert p.stderr.read() == "err\n"
    binary = sb.exec("printf", "\\001\\002", text=False)
    assert binary.stdout.read() == b"\x01\x02"


def test_lines_arrive_as_they_are_written(sb):
    p = sb.exec("python", "-u", "-c",
                "import time\nfor i in range(3):\n    print(i)\n    time.sleep(0.3)", bufsize=1)
    seen = []
    for line in p.stdout:
        seen.append((line, time.monotonic()))
    assert [line for line, _ in seen] == ["0\n", "1\n", "2\n"]
    assert seen[-1][1] - seen[0][1] > 0.4  # streamed, not gathered at the end


def test_stdin_keeps_a_process_state_between_writes(sb):
    p = sb.exec("python", "-u", "-c",
                "import sys\ntotal = 0\nfor line in sys.stdin:\n"
                "    total += int(line)\n    print(total, flush=True)", bufsize=1)
    answers = []
    for n in (1, 2, 3):
        p.stdin.write(f"{n}\n")
        p.stdin.drain()
        answers.append(next(iter(p.stdout)))
    p.stdin.write_eof()
    p.stdin.drain()
    assert answers == ["1\n", "3\n", "6\n"]
    assert p.wait() == 0


def test_command_exit_ends_the_sandbox(app, runtime):
    sb = ketch.Sandbox.create("sh", "-c", "echo from-command; exit 7", app=app, runtime=runtime)
    sb.wait()
    assert sb.returncode == 7
    assert sb.stdout.read() == "from-command\n"
    assert sb.poll() == 7


def test_terminate_and_wait(app, runtime):
    sb = ketch.Sandbox.create("sleep", "60", app=app, runtime=runtime)
    assert sb.poll() is None
    sb.terminate()
    with pytest.raises(exception.SandboxTerminatedError, match="terminated"):
        sb.wait()
    sb.wait(raise_on_termination=False)
    assert sb.returncode == 137
    with pytest.raises(exception.NotFoundError, match="has ended"):
        sb.exec("true")


def test_timeout_ends_it_and_says_why(app, runtime):
    sb = ketch.Sandbox.create("sleep", "60", app=app, runtime=runtime, timeout=1)
    with pytest.raises(exception.SandboxTimeoutError, match="timeout of 1 s"):
        sb.wait()
    assert sb.returncode == 124


def test_idle_timeout_spares_a_busy_sandbox(app, runtime):
    sb = ketch.Sandbox.create(app=app, runtime=runtime, idle_timeout=1.5)
    busy = sb.exec("sleep", "2.5")
    assert busy.wait() == 0  # running execs keep it alive past its idle_timeout
    started = time.monotonic()
    sb.wait(raise_on_termination=False)
    assert time.monotonic() - started < 5
    assert "idle for 1.5 s" in ketch.Sandbox.from_id(sb.object_id)._info.reason


def test_exec_timeout_kills_the_process(sb):
    p = sb.exec("sleep", "30", timeout=0.5)
    assert p.wait() == -9


def test_find_by_id_name_and_tags(app, runtime):
    sb = ketch.Sandbox.create(app=app, runtime=runtime, name="finder")
    try:
        sb.set_tags({"team": "a", "run": "1"})
        assert ketch.Sandbox.from_id(sb.object_id).get_tags() == {"team": "a", "run": "1"}
        assert ketch.Sandbox.from_name("sandbox-tests", "finder").object_id == sb.object_id
        assert [s.object_id for s in ketch.Sandbox.list(tags={"team": "a"})] == [sb.object_id]

        async def listed() -> list[str]:
            return [s.object_id async for s in ketch.Sandbox.list.aio(tags={"team": "a"})]

        assert asyncio.run(listed()) == [sb.object_id]
        assert list(ketch.Sandbox.list(tags={"team": "b"})) == []
        with pytest.raises(exception.AlreadyExistsError, match="finder"):
            ketch.Sandbox.create(app=app, runtime=runtime, name="finder")
    finally:
        sb.terminate()
    with pytest.raises(exception.NotFoundError):
        ketch.Sandbox.from_name("sandbox-tests", "finder")


def test_files(sb):
    sb.mkdir("/work/deep/er", parents=True)
    with sb.open("/work/deep/er/notes.txt", "w") as f:
        f.write("line 1\n")
    with sb.open("/work/deep/er/notes.txt", "a") as f:
        f.write("line 2\n")
    assert sb.open("/work/deep/er/notes.txt").readlines() == ["line 1\n", "line 2\n"]
    big = os.urandom(3 << 20)  # more than one frame each way
    with sb.open("/work/big.bin", "wb") as f:
        f.write(big)
    assert sb.open("/work/big.bin", "rb").read() == big
    assert sb.exec("cat", "/work/deep/er/notes.txt").stdout.read() == "line 1\nline 2\n"
    assert sorted(sb.ls("/work")) == ["big.bin", "deep"]
    sb.rm("/work/deep", recursive=True)
    assert sb.ls("/work") == ["big.bin"]
    with pytest.raises(FileNotFoundError):
        sb.open("/work/missing").read()


def test_env_secrets_and_no_host_environment(app, runtime, monkeypatch):
    monkeypatch.setenv("HOST_ONLY_SETTING", "leak")
    secret = ketch.Secret.from_dict({"API_KEY": "s3cret"})
    sb = ketch.Sandbox.create(app=app, runtime=runtime, secrets=[secret], env={"MODE": "x"})
    try:
        out = sb.exec("sh", "-c", "echo $API_KEY $MODE $EXTRA; env", env={"EXTRA": "e"})
        text = out.stdout.read()
        assert text.splitlines()[0] == "s3cret x e"
        assert "HOST_ONLY_SETTING" not in text and "KETCH_" not in text
    finally:
        sb.terminate()


def test_workdir(app, runtime):
    sb = ketch.Sandbox.create(app=app, runtime=runtime, workdir="/srv/app")
    try:
        assert sb.exec("pwd").stdout.read() == "/srv/app\n"
        assert sb.exec("pwd", workdir="/tmp").stdout.read() == "/tmp\n"
    finally:
        sb.terminate()


def test_bad_input_is_refused_before_anything_starts(app):
    with pytest.raises(exception.InvalidError, match="as strings"):
        ketch.Sandbox.create("echo", 3, app=app)
    with pytest.raises(exception.InvalidError, match="block_network=True allows no traffic"):
        ketch.Sandbox.create(app=app, block_network=True, cidr_allowlist=["10.0.0.0/8"])
    for cidr in ("10.0.0.0/33", "fd00::/8", "10.0.0.1/8"):  # as the sandbox's network takes
        with pytest.raises(exception.InvalidError, match="not an IPv4 CIDR"):
            ketch.Sandbox.create(app=app, cidr_allowlist=[cidr])
        with pytest.raises(exception.InvalidError, match="not an IPv4 CIDR"):  # sent raw
            send_blocking(protocol.SandboxCreate(
                app_id=app.app_id,
                definition=SandboxDefinition(command=["true"], cidr_allowlist=[cidr])))
    with pytest.raises(exception.InvalidError, match="isolation"):
        ketch.Sandbox.create(app=app, runtime="process")
    with pytest.raises(exception.InvalidError, match="timeout"):
        ketch.Sandbox.create(app=app, timeout=-1)
    assert list(ketch.Sandbox.list(tags={"never": "made"})) == []


def test_stopping_the_app_ends_its_sandboxes(runtime):
    app = ketch.App("sandbox-owner")
    with app.run():
        sb = ketch.Sandbox.create("sleep", "60", app=app, runtime=runtime)
        assert sb.poll() is None
    with pytest.raises(exception.SandboxTerminatedError, match="its app stopped"):
        sb.wait()


def test_a_modal_code_interpreter_runs_unchanged(tests_dir, tmp_path):
    env = {**os.environ, "KETCH_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "ketch.cli", "python", str(tests_dir / "apps" / "code_interpreter.py")],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hello, world!", "2", "10", "state kept: 42"]


def snapshot_after(app, runtime, script, image=None):
    """The image of a sandbox's files once ``script`` ran in it."""
    sandbox = ketch.Sandbox.create(app=app, runtime=runtime, image=image)
    try:
        assert sandbox.exec("sh", "-c", script).wait() == 0
        return sandbox.snapshot_filesystem()
    finally:
        sandbox.terminate()


def test_snapshot_filesystem_starts_later_sandboxes(app, runtime):
    first = snapshot_after(app, runtime, "mkdir -p /data && echo kept > /data/state.txt && "
                           "echo gone > /data/gone")
    assert isinstance(first, ketch.Image)
    # a file of a lower layer deleted, in a folder of the sandbox's own
    second = snapshot_after(app, runtime, "rm /data/gone && echo scratch > /tmp/t", first)
    third = ketch.Sandbox.create(app=app, runtime=runtime, image=second)
    try:
        out = third.exec("sh", "-c", "cat /data/state.txt /tmp/t; test -e /data/gone || "
                         "echo deleted; ls /root | wc -l").stdout.read()
        assert out.split() == ["kept", "scratch", "deleted", "0"]
    finally:
        third.terminate()


def test_ports_tunnels_and_readiness(app, runtime, tmp_path):
    import urllib.request

    sb = ketch.Sandbox.create(
        "python", "-c", "import time, http.server, socketserver\ntime.sleep(0.5)\n"
        "http.server.ThreadingHTTPServer(('', 8000), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()",
        app=app, runtime=runtime, workdir="/srv", encrypted_ports=[8000],
        readiness_probe=ketch.Probe.with_tcp(8000))
    try:
        sb.open("/srv/page.txt", "w").close()
        sb.wait_until_ready(timeout=30)
        tunnel = sb.tunnels()[8000]
        with urllib.request.urlopen(f"{tunnel.url}/", timeout=10) as response:
            assert b"page.txt" in response.read()
    finally:
        sb.terminate()


def test_exec_readiness_probe_and_a_sandbox_that_never_gets_ready(app, runtime):
    sb = ketch.Sandbox.create("sh", "-c", "sleep 0.5; touch /tmp/ready; sleep 60", app=app,
                              runtime=runtime,
                              readiness_probe=ketch.Probe.with_exec("test", "-f", "/tmp/ready"))
    try:
        sb.wait_until_ready(timeout=30)
    finally:
        sb.terminate()
    never = ketch.Sandbox.create("sleep", "60", app=app, runtime=runtime,
                                 readiness_probe=ketch.Probe.with_tcp(9))
    try:
        with pytest.raises(exception.TimeoutError, match="not ready within 1 s"):
            never.wait_until_ready(timeout=1)
    finally:
        never.terminate()


def test_a_spare_sandbox_is_fresh_and_takes_the_new_limits(app, runtime):
    first = ketch.Sandbox.create(app=app, runtime=runtime, env={"WHO": "first"})
    first.exec("sh", "-c", "echo left > /tmp/left-behind").wait()
    first.terminate()
    time.sleep(1.0)  # the spare started after `first` is running by now
    second = ketch.Sandbox.create(app=app, runtime=runtime, env={"WHO": "second"}, memory=200)
    try:
        host = second.exec("hostname").stdout.read().strip()
        assert host != second.object_id  # it was started ahead, under a name of its own
        out = second.exec("sh", "-c", "echo $WHO; test -e /tmp/left-behind || echo fresh")
        assert out.stdout.read().split() == ["second", "fresh"]
        hog = second.exec("python", "-c", "x = bytearray(400 << 20); print('survived')")
        assert hog.wait() == -9 and hog.stdout.read() == ""
        if runtime == "gvisor":  # the OOM killer takes gVisor's sentry: the whole sandbox
            second.wait(raise_on_termination=False)
            assert "ran out of memory at 200 MiB" in second._info.reason
            return
        assert second.exec("echo", "still here").stdout.read() == "still here\n"
        control_plane = synchronizer.run(client.get_client()).transport.control_plane
        lines, _ = synchronizer.run(control_plane.state.apps[app.app_id].logs.read(0, 0))
        said = [line.text for line in lines if line.container_id == second.object_id]
        assert any("reached its memory limit" in text for text in said), said
    finally:
        second.terminate()


def test_a_function_drives_a_sandbox_in_its_own_app_and_it_is_metered():
    from apps import sandboxer

    with sandboxer.app.run():
        out, sandbox_id = sandboxer.run_in_sandbox.remote("print(sum(range(10)))")
        assert out == "45\n"
        info = ketch.Sandbox.from_id(sandbox_id)._info
        assert info.app_id == sandboxer.app.app_id
        rows = ketch.usage.query(by="function", app_id=sandboxer.app.app_id)
    assert "sandboxer.sandbox" in {row["group"] for row in rows}, rows


def test_the_filesystem_interface(sb, tmp_path):
    fs = sb.filesystem
    fs.write_text("snowman: ☃\n", "/work/deep/a.txt")  # makes /work/deep
    assert fs.read_text("/work/deep/a.txt") == "snowman: ☃\n"
    big = os.urandom((1 << 20) + 17)
    local = tmp_path / "big.bin"
    local.write_bytes(big)
    fs.copy_from_local(local, "/work/big.bin")
    fs.copy_to_local("/work/big.bin", tmp_path / "out" / "back.bin")
    assert (tmp_path / "out" / "back.bin").read_bytes() == big
    fs.write_bytes(b"", "/work/empty")
    assert fs.read_bytes("/work/empty") == b""
    fs.make_directory("/work/made/here")
    assert sb.exec("test", "-d", "/work/made/here").wait() == 0
    with pytest.raises(exception.SandboxFilesystemNotFoundError):
        fs.read_text("/work/missing")
    with pytest.raises(exception.SandboxFilesystemIsADirectoryError):
        fs.read_bytes("/work/deep")
    with pytest.raises(exception.SandboxFilesystemNotADirectoryError):
        fs.write_text("x", "/work/deep/a.txt/child")
    with pytest.raises(exception.InvalidError, match="absolute remote_path"):
        fs.read_text("relative.txt")
    with pytest.raises(TypeError):
        fs.write_text(b"bytes", "/work/x")


def test_the_example_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ketch.cli", "python", "examples/sandbox.py"],
        capture_output=True, text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(__file__)),
        env={**os.environ, "KETCH_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "the host's ~/.ssh and /etc/shadow: False False", "no network: gaierror", "exit status 0", "it left behind: 42"]
