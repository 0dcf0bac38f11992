"""The gvisor runtime driven through `GvisorDriver` itself (the runtime seam): real runsc, real
cgroups, mounts and network namespaces, with the host's own Python run inside gVisor. Needs
root on Linux and runsc; the tests of the OCI spec and of bad input run anywhere."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from ketch import config, exception
from ketch.backends.gvisor import GvisorDriver, host_pids, oci_spec
from ketch.backends.sandboxing import SANDBOX_USER, SandboxSetup
from ketch.protocol.worker import ContainerExit, ContainerSpec, SandboxPolicy

problem = GvisorDriver(config.home() / "containers", masks=[]).fingerprint()
needs_runsc = pytest.mark.skipif(problem is not None, reason=f"gvisor runtime: {problem}")
# The interpreter itself, not a virtualenv's link to it: a sandbox sees no virtualenv under /tmp.
PYTHON = os.path.realpath(sys.executable)


def driver() -> GvisorDriver:
    return GvisorDriver(config.home() / "containers", masks=[str(config.home())])


def spec_of(policy: SandboxPolicy | None, **fields: Any) -> ContainerSpec:
    return ContainerSpec(f"ct-gv-{uuid.uuid4().hex[:8]}", "fn", "f", "app", "", token="t",
                         sandbox=policy, **fields)


async def start(code: str, *args: str, policy: SandboxPolicy | None = None,
                **fields: Any) -> tuple[GvisorDriver, Any]:
    gv = driver()
    spec = spec_of(policy or SandboxPolicy(block_network=True), **fields)
    handle = await gv.start_task(spec, [PYTHON, "-S", "-c", code, *args],
                                 {"PATH": "/usr/bin:/bin"}, [])
    return gv, handle


async def finish(gv: GvisorDriver, handle: Any) -> tuple[ContainerExit, str, str]:
    """Read it to the end, wait for it, destroy it, and check that nothing of it is left."""
    out, err = await asyncio.gather(handle.stdout.read(), handle.stderr.read())
    exit_ = await gv.wait_task(handle)
    handle.stdin.close()
    await gv.destroy_task(handle)
    assert_nothing_left(handle)
    return exit_, out.decode(), err.decode()


def run(code: str, *args: str, **kwargs: Any) -> tuple[ContainerExit, str, str]:
    async def go() -> tuple[ContainerExit, str, str]:
        return await finish(*await start(code, *args, **kwargs))

    return asyncio.run(go())


def assert_nothing_left(handle: Any) -> None:
    """No process, cgroup, mount, scratch folder or runsc state of the sandbox remains."""
    setup: SandboxSetup = handle.sandbox
    assert not any(d.exists() for d in setup.cgroup.dirs.values())
    assert not setup.scratch.exists()  # runsc's state, the bundle and the disk's mount point
    assert str(setup.scratch) not in Path("/proc/self/mountinfo").read_text()
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if handle.container_id.encode() in cmdline or str(setup.scratch).encode() in cmdline:
            leftovers.append(cmdline.replace(b"\0", b" ")[:200])
    assert leftovers == []


def test_the_oci_spec_grants_nothing() -> None:
    spec = spec_of(SandboxPolicy(pids=64))
    launch = {"root": "/scratch/disk/root", "workdir": "/app", "user": list(SANDBOX_USER)}
    bundle = oci_spec(spec, ["python", "-c", "pass"], {"A": "1"}, launch, "/run/netns/sb",
                      "/scratch/disk/shm")
    process = bundle["process"]
    assert process["args"] == ["python", "-c", "pass"] and process["env"] == ["A=1"]
    assert process["cwd"] == "/app" and process["terminal"] is False
    assert process["user"] == {"uid": 65534, "gid": 65534} and process["noNewPrivileges"] is True
    assert all(caps == [] for caps in process["capabilities"].values())
    assert {"type": "RLIMIT_NPROC", "soft": 64, "hard": 64} in process["rlimits"]
    assert bundle["root"] == {"path": "/scratch/disk/root", "readonly": False}
    assert bundle["hostname"] == spec.container_id
    assert "cgroupsPath" not in bundle["linux"]  # runsc runs inside the sandbox's own cgroup
    assert {"type": "network", "path": "/run/netns/sb"} in bundle["linux"]["namespaces"]
    mounts = {mount["destination"]: mount for mount in bundle["mounts"]}
    assert mounts["/tmp"]["source"] == "/scratch/disk/root/tmp"  # on its disk, not a tmpfs
    assert mounts["/dev/shm"]["source"] == "/scratch/disk/shm"
    blocked = oci_spec(spec, ["true"], {}, launch, None, "/scratch/disk/shm")
    assert {"type": "network"} in blocked["linux"]["namespaces"]
    assert host_pids(64) > 64  # gVisor's own threads and ptrace stubs count on the host


def test_functions_and_gpus_are_refused_with_what_to_do() -> None:
    with pytest.raises(exception.InvalidError, match="sandboxes only.*namespace or process"):
        asyncio.run(driver().start_task(spec_of(None), ["true"], {}, []))
    with pytest.raises(exception.InvalidError, match="cannot use GPUs.*runtime='namespace'"):
        asyncio.run(driver().start_task(spec_of(SandboxPolicy(), gpu="T4"), ["true"], {}, []))
    capabilities = driver().capabilities()
    assert capabilities.isolation == "gvisor" and not capabilities.supports_gpus


def test_fingerprint_names_the_fix_without_runsc() -> None:
    missing = GvisorDriver(config.home() / "containers", masks=[], runsc="runsc-not-here")
    assert "apt-get install runsc" in (missing.fingerprint() or "")


@needs_runsc
def test_stdin_comes_back_on_stdout_from_inside_gvisor() -> None:
    code = r"""
import json, os, sys
print(json.dumps({"release": os.uname().release, "hostname": os.uname().nodename,
                  "version": open("/proc/version").read(), "cwd": os.getcwd(),
                  "env": dict(os.environ)}), flush=True)
for line in sys.stdin:
    sys.stdout.write(line.upper())
    sys.stdout.flush()
sys.stderr.write("bye\n")
"""

    async def go() -> tuple[dict[str, Any], list[bytes], tuple[ContainerExit, str, str]]:
        gv, handle = await start(code)
        first = json.loads(await handle.stdout.readline())
        echoed = []
        for word in (b"one\n", b"two\n", b"\x00\xff binary\n"):  # one at a time: no buffering
            handle.stdin.write(word)
            await handle.stdin.drain()
            echoed.append(await asyncio.wait_for(handle.stdout.readline(), 10))
        handle.stdin.close()
        return first, echoed, await finish(gv, handle)

    first, echoed, (exit_, out, err) = asyncio.run(go())
    assert echoed == [b"ONE\n", b"TWO\n", b"\x00\xff BINARY\n"]
    assert first["release"] != os.uname().release  # gVisor's kernel, not the host's
    assert first["hostname"].startswith("ct-gv-") and first["cwd"] == "/"
    # the env given, nothing of runsc's (HOME is gVisor's default, LC_CTYPE Python's own)
    assert first["env"]["PATH"] == "/usr/bin:/bin"
    assert set(first["env"]) <= {"PATH", "HOME", "LC_CTYPE"}
    assert exit_ == ContainerExit(0, None, "the container exited with code 0")
    assert out == "" and err == "bye\n"  # runsc adds nothing to either stream


@needs_runsc
def test_exit_codes_come_through() -> None:
    exit_, _, _ = run("import sys; sys.exit(3)")
    assert (exit_.exit_code, exit_.signal) == (3, None)
    exit_, _, _ = run("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert exit_.exit_code == 137 and "SIGKILL" in exit_.reason  # runsc's 128 + N


@needs_runsc
def test_writes_land_in_the_sandbox_disk_and_host_files_stay_hidden(tmp_path: Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("host secret")
    code = r"""
import json, os, sys
def attempt(action):
    try:
        action()
        return 0
    except OSError as exc:
        return exc.errno
def write(path):
    with open(path, "w") as f:
        f.write("written inside")
python_dir = os.path.dirname(sys.argv[1])
print(json.dumps({
    "canary": os.path.exists(sys.argv[2]),
    "home": os.listdir(sys.argv[3]) if os.path.isdir(sys.argv[3]) else None,
    "write_etc": attempt(lambda: write("/etc/ketch-gvisor-write")),
    "write_home": attempt(lambda: write("/root/ketch-gvisor-write")),
    "write_tmp": attempt(lambda: write("/tmp/ketch-gvisor-write")),
    "read_back": open("/root/ketch-gvisor-write").read(),
    "write_python": attempt(lambda: write(os.path.join(python_dir, "ketch-gvisor-write"))),
    "shadow": os.path.exists("/etc/shadow"),
}), flush=True)
sys.stdin.readline()
"""

    async def go() -> tuple[dict[str, Any], bool, tuple[ContainerExit, str, str]]:
        gv, handle = await start(code, PYTHON, str(canary), str(config.home()))
        seen = json.loads(await handle.stdout.readline())
        upper = handle.sandbox.disk / "upper"
        in_upper = all((upper / folder / "ketch-gvisor-write").read_text() == "written inside"
                       for folder in ("root", "tmp"))  # /tmp too: not a tmpfs of gVisor's
        handle.stdin.write(b"\n")
        return seen, in_upper, await finish(gv, handle)

    seen, in_upper, (exit_, _, err) = asyncio.run(go())
    assert exit_.exit_code == 0, err
    assert seen["canary"] is False and seen["home"] in (None, []) and seen["shadow"] is False
    assert seen["write_home"] == seen["write_tmp"] == 0 and in_upper
    assert seen["write_etc"] == errno.EACCES  # root's folder; its code is not root
    assert seen["read_back"] == "written inside"
    assert seen["write_python"] in (errno.EROFS, errno.EACCES)  # its read-only bind
    assert not os.path.exists("/etc/ketch-gvisor-write")


@needs_runsc
def test_memory_limit_gives_the_oom_reason() -> None:
    code = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))"
    exit_, _, _ = run(code, memory_mb=256)
    assert exit_.exit_code != 0
    assert "ran out of memory at" in exit_.reason and "memory=" in exit_.reason


@needs_runsc
def test_pids_limit_fails_forks_inside_and_the_sandbox_lives_on() -> None:
    code = r"""
import os, time
count = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        count += 1
except OSError as exc:
    print(count, exc.errno, flush=True)
"""
    exit_, out, err = run(code, policy=SandboxPolicy(block_network=True, pids=16))
    count, code_ = map(int, out.split())
    assert exit_.exit_code == 0, err
    assert 10 <= count < 16 and code_ == errno.EAGAIN  # 16 tasks: Python's threads count too


@needs_runsc
def test_gvisor_past_the_host_pids_limit_ends_with_that_reason(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # gVisor's own threads count on the host: with no room left for them, the sentry dies
    monkeypatch.setattr("ketch.backends.gvisor.HOST_PIDS_PER_PROCESS", 1)
    monkeypatch.setattr("ketch.backends.gvisor.HOST_PIDS_BASE", 0)
    code = "import os, time\nwhile True:\n    if os.fork() == 0:\n        time.sleep(30)\n"
    exit_, _, _ = run(code, policy=SandboxPolicy(block_network=True, pids=64))
    assert exit_.exit_code != 0 and "reached its limit of 64 processes" in exit_.reason


@needs_runsc
def test_the_disk_limit_holds_for_every_writable_folder() -> None:
    code = r"""
import errno, json, mmap, os
def fill(path):
    written = 0
    try:
        with open(path, "wb") as f:
            for _ in range(64):
                f.write(b"x" * (1 << 20))
                f.flush()
                written += 1
    except OSError as exc:
        return [written, errno.errorcode[exc.errno]]
    finally:
        if os.path.exists(path):
            os.unlink(path)
    return [written, "ok"]
fd = os.open("/dev/shm/segment", os.O_CREAT | os.O_RDWR, 0o600)
os.ftruncate(fd, 4096)
shared = mmap.mmap(fd, 4096, mmap.MAP_SHARED)
if os.fork() == 0:
    shared[:5] = b"child"
    os._exit(0)
os.wait()
print(json.dumps({"shared": shared[:5].decode(),
                  **{path: fill(path) for path in ("/tmp/big", "/dev/shm/big")}}))
"""
    exit_, out, err = run(code, policy=SandboxPolicy(block_network=True, disk_mib=16))
    seen = json.loads(out)
    assert exit_.exit_code == 0, err
    assert seen["shared"] == "child"  # /dev/shm, on the disk, still shares memory
    for path in ("/tmp/big", "/dev/shm/big"):
        assert seen[path][0] <= 16 and seen[path][1] == "ENOSPC"


@needs_runsc
def test_block_network_leaves_only_loopback() -> None:
    code = r"""
import json, socket
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("1.1.1.1", 80))
    outcome = "connected"
except OSError as exc:
    outcome = exc.errno
print(json.dumps({"interfaces": [n for _, n in socket.if_nameindex()], "connect": outcome}))
"""
    exit_, out, _ = run(code)
    seen = json.loads(out)
    assert seen["interfaces"] == ["lo"]
    assert seen["connect"] in (errno.ENETUNREACH, errno.EHOSTUNREACH)


@needs_runsc
def test_network_is_the_sandbox_namespace_and_the_host_is_out_of_reach() -> None:
    from ketch.backends import netns

    if netns.fingerprint() is not None:
        pytest.skip(f"sandbox networks: {netns.fingerprint()}")
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    code = r"""
import json, socket, struct, sys
routes = [line.split() for line in open("/proc/net/route").read().splitlines()[1:]]
gateway = next(socket.inet_ntoa(struct.pack("<I", int(r[2], 16))) for r in routes
               if r[1] == "00000000")
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.connect((gateway, 9))  # sends nothing: only picks the source address
s = socket.socket()
s.settimeout(1)
try:
    s.connect((gateway, int(sys.argv[1])))
    outcome = "connected"
except OSError as exc:
    outcome = str(exc)
print(json.dumps({"interfaces": [n for _, n in socket.if_nameindex()], "gateway": gateway,
                  "address": probe.getsockname()[0], "host": outcome}))
"""

    async def go() -> tuple[Any, tuple[ContainerExit, str, str]]:
        gv, handle = await start(code, str(listener.getsockname()[1]),
                                 policy=SandboxPolicy(block_network=False))
        return handle.sandbox.network, await finish(gv, handle)

    try:
        network, (exit_, out, err) = asyncio.run(go())
    finally:
        listener.close()
    seen = json.loads(out)
    assert exit_.exit_code == 0, err
    assert "eth0" in seen["interfaces"]  # gVisor's netstack, on the sandbox's veth
    assert (seen["gateway"], seen["address"]) == (network.gateway, network.address)
    assert seen["host"] != "connected"  # the host drops whatever a sandbox sends it


@needs_runsc
def test_sigterm_reaches_the_command_and_sigkill_ends_everything() -> None:
    graceful = r"""
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(0)))
print("ready", flush=True)
time.sleep(60)
"""
    stubborn = r"""
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
for _ in range(3):
    if os.fork() == 0:
        time.sleep(60)
print("ready", flush=True)
time.sleep(60)
"""

    async def stop(code: str, grace_s: float) -> tuple[ContainerExit, str]:
        gv, handle = await start(code)
        assert await handle.stdout.readline() == b"ready\n"
        await gv.stop_task(handle, grace_s)
        exit_, out, _ = await finish(gv, handle)
        return exit_, out

    exit_, out = asyncio.run(stop(graceful, 10.0))
    assert out == "got SIGTERM\n" and exit_.exit_code == 0
    exit_, _ = asyncio.run(stop(stubborn, 0.5))  # finish() checks that nothing is left
    assert exit_.signal == signal.SIGKILL
