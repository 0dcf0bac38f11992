"""Sandboxes on the namespace runtime, driven through `NamespaceDriver` itself: each test runs
hostile code (the host's Python, in the sandbox) that prints what it managed as JSON lines.
The seccomp filter's logic is also checked without root, by running its BPF here."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import struct
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from ketch import config
from ketch.backends import seccomp
from ketch.backends.namespace import NamespaceDriver
from ketch.backends.rootfs import hidden, visible_prefixes
from ketch.backends.sandboxing import sandbox_env
from ketch.protocol.worker import ContainerExit, ContainerSpec, SandboxPolicy

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
needs_root = pytest.mark.skipif(problem is not None, reason=f"namespace runtime: {problem}")
MACHINE = os.uname().machine
NUMBERS = seccomp.SYSCALLS.get(MACHINE, {})


def driver() -> NamespaceDriver:
    return NamespaceDriver(config.home() / "containers", masks=[str(config.home())],
                           zygotes=False)


async def start(policy: SandboxPolicy, code: str, *, image: dict[str, Any] | None = None,
                env: dict[str, str] | None = None) -> tuple[NamespaceDriver, Any]:
    spec = ContainerSpec(f"ct-sbx-{uuid.uuid4().hex[:8]}", "fn", "f", "app", "", token="t",
                         image=image, sandbox=policy)
    ns = driver()
    command = [sys.executable, "-S", "-c", code, json.dumps(NUMBERS)]
    handle = await ns.start_task(spec, command, {**os.environ, **(env or {})}, [])
    return ns, handle


async def finish(ns: NamespaceDriver, handle: Any) -> tuple[ContainerExit, list[Any], str]:
    out, err = await asyncio.gather(handle.stdout.read(), handle.stderr.read())
    exit_ = await ns.wait_task(handle)
    handle.stdin.close()
    await ns.destroy_task(handle)
    return exit_, [json.loads(line) for line in out.decode().splitlines()], err.decode()


def sandboxed(policy: SandboxPolicy, code: str, **kwargs: Any) -> tuple[ContainerExit, Any, str]:
    async def go() -> tuple[ContainerExit, list[Any], str]:
        ns, handle = await start(policy, code, **kwargs)
        return await finish(ns, handle)

    exit_, lines, err = asyncio.run(go())
    assert exit_.exit_code == 0, (exit_, err)
    return exit_, (lines[0] if len(lines) == 1 else lines), err


PRELUDE = r'''
import ctypes, json, os, socket, sys
N = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)

def sc(name, *args):
    result = libc.syscall(N[name], *args)
    if result == 0 and name == "clone":
        os._exit(0)  # the clone succeeded: its child must go
    return 0 if result >= 0 else ctypes.get_errno()

def attempt(action):
    try:
        action()
        return 0
    except OSError as exc:
        return exc.errno
'''

ATTACKS = PRELUDE + r'''
def write(path, text="x"):
    with open(path, "w") as f:
        f.write(text)

def read(path):
    with open(path, "rb") as f:
        return f.read()

status = dict(line.split(":\t", 1) for line in read("/proc/self/status").decode().splitlines())
r = {
    "mount": 0 if libc.mount(b"none", b"/mnt", b"tmpfs", 0, None) == 0 else ctypes.get_errno(),
    "umount": sc("umount2", b"/proc", 2),
    "unshare_user": sc("unshare", 0x10000000),
    "unshare_mount": sc("unshare", 0x00020000),
    "setns": sc("setns", -1, 0),
    "clone_newuser": sc("clone", 0x10000000 | 17, 0, 0, 0, 0),
    "clone_newpid": sc("clone", 0x20000000 | 17, 0, 0, 0, 0),
    "clone3": sc("clone3", 0, 0),
    "ptrace_pid1": sc("ptrace", 16, 1, 0, 0),
    "kexec_load": sc("kexec_load", 0, 0, 0, 0),
    "init_module": sc("init_module", 0, 0, b""),
    "finit_module": sc("finit_module", 0, b"", 0),
    "delete_module": sc("delete_module", b"loop", 0),
    "bpf": sc("bpf", 0, 0, 0),
    "keyctl": sc("keyctl", 0, 0, 0, 0, 0),
    "chroot": sc("chroot", b"/tmp"),
    "pivot_root": sc("pivot_root", b"/tmp", b"/tmp"),
    "personality": sc("personality", 0x0040000),
    "personality_query": sc("personality", -1),
    "io_uring": sc("io_uring_setup", 1, 0),
    "raw_socket": attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)),
    "packet_socket": attempt(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)),
    "sysrq": attempt(lambda: write("/proc/sysrq-trigger", "")),
    "irq": attempt(lambda: write("/proc/irq/default_smp_affinity", "1")),
    "core_pattern": attempt(lambda: write("/proc/sys/kernel/core_pattern", "|/bin/true")),
    "sys_write": attempt(lambda: write("/sys/kernel/mm/transparent_hugepage/enabled", "never")),
    "cgroups": os.listdir("/sys/fs/cgroup") if os.path.isdir("/sys/fs/cgroup") else [],
    "masked": [read(p)[:8].hex() for p in ("/proc/kcore", "/proc/kallsyms", "/proc/keys",
                                            "/proc/timer_list") if os.path.exists(p)],
    "pid1_mem": attempt(lambda: read("/proc/1/mem")),
    "pid1_root": attempt(lambda: os.listdir("/proc/1/root/")),
    "pid1_environ": attempt(lambda: read("/proc/1/environ")),
    "caps": {k: v for k, v in status.items() if k.startswith("Cap")},
    "no_new_privs": status["NoNewPrivs"],
    "seccomp": status["Seccomp"],
    "uid": os.getuid(),
    "pid": os.getpid(),
    "env": sorted(k for k in os.environ if k.startswith("KETCH_")),
    "sees": {p: os.path.exists(p) for p in sys.argv[2:]},
    "shadow": os.path.exists("/etc/shadow"),
    "write": attempt(lambda: (write("/ketch-sandbox-write"), write("/root/ketch-sandbox-write"))),
    "write_system": attempt(lambda: write("/usr/ketch-sandbox-write")),
}
import subprocess, threading
thread = threading.Thread(target=lambda: r.update(thread=True))  # clone3 refused, clone used
thread.start()
thread.join()
r["subprocess"] = subprocess.run(["/bin/echo", "ok"], capture_output=True).stdout.decode()
print(json.dumps(r), flush=True)
'''


@needs_root
def test_the_attacks_fail_and_the_host_stays_out_of_sight(tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("host secret")
    in_home = config.home() / "secret-in-ketch-home"
    in_home.write_text("token")
    code = ATTACKS.replace("sys.argv[2:]", repr([str(canary), str(in_home), str(tmp_path),
                                                  str(config.home()), "/root", "/etc/passwd",
                                                  "/usr/bin", sys.executable]))
    env = {"KETCH_CONTAINER_TOKEN": "secret", "KETCH_SERVER": "unix:/x", "KETCH_HOME": "/x"}
    _, r, _ = sandboxed(SandboxPolicy(block_network=True), code, env=env)
    eperm = {k: r[k] for k in ("mount", "umount", "unshare_user", "unshare_mount", "setns",
                               "clone_newuser", "clone_newpid", "ptrace_pid1", "kexec_load",
                               "init_module", "finit_module", "delete_module", "bpf",
                               "keyctl", "chroot", "pivot_root", "personality", "io_uring",
                               "raw_socket", "packet_socket")}
    assert eperm == dict.fromkeys(eperm, errno.EPERM)
    assert r["clone3"] == errno.ENOSYS and r["personality_query"] == 0
    assert r["core_pattern"] == r["sys_write"] == r["irq"] == errno.EROFS
    # absent from some kernels (this one, without CONFIG_MAGIC_SYSRQ)
    assert r["sysrq"] == (errno.EROFS if os.path.exists("/proc/sysrq-trigger") else errno.ENOENT)
    assert r["cgroups"] == []  # no cgroup file systems to climb out of its limits through
    assert r["masked"] and set(r["masked"]) == {""}
    assert r["pid1_mem"] == r["pid1_root"] == r["pid1_environ"] == errno.EACCES
    assert set(r["caps"].values()) == {"0000000000000000"} and len(r["caps"]) == 5
    assert (r["no_new_privs"], r["seccomp"], r["uid"], r["pid"]) == ("1", "2", 65534, 2)
    assert not {"KETCH_CONTAINER_TOKEN", "KETCH_SERVER", "KETCH_HOME"} & set(r["env"])
    assert r["sees"] == {str(canary): False, str(in_home): False, str(tmp_path): False,
                         str(config.home()): False, "/root": True, "/etc/passwd": True,
                         "/usr/bin": True, sys.executable: True}
    assert r["shadow"] is False
    assert r["write"] == 0  # into its own layer, in its own folders
    assert r["write_system"] == errno.EACCES  # not in root's: its code is not root
    assert r["thread"] is True and r["subprocess"] == "ok\n"  # ordinary programs still work
    assert not os.path.exists("/ketch-sandbox-write")
    assert not os.path.exists("/usr/ketch-sandbox-write")
    assert canary.read_text() == "host secret"


@needs_root
def test_the_disk_fills_at_its_size():
    code = PRELUDE + r'''
written, err = 0, None
try:
    with open("/root/fill", "wb") as f:
        while True:
            f.write(b"x" * 2**20)
            f.flush()
            written += 1
except OSError as exc:
    err = exc.errno
shm = attempt(lambda: open("/dev/shm/more", "wb").write(b"x" * 2**20))
print(json.dumps({"mib": written, "errno": err, "shm": shm}))
'''
    _, r, _ = sandboxed(SandboxPolicy(block_network=True, disk_mib=16), code)
    assert r["errno"] == errno.ENOSPC and 8 <= r["mib"] <= 16
    assert r["shm"] == errno.ENOSPC  # /dev/shm is on the same disk


@needs_root
def test_the_pids_limit_stops_a_fork_bomb():
    code = PRELUDE + r'''
import time
forked, err = 0, None
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        forked += 1
except OSError as exc:
    err = exc.errno
print(json.dumps({"forked": forked, "errno": err}))
sys.exit(3)
'''

    async def go() -> tuple[ContainerExit, list[Any], str]:
        ns, handle = await start(SandboxPolicy(block_network=True, pids=24), code)
        return await finish(ns, handle)

    exit_, lines, _ = asyncio.run(go())
    assert lines[0]["errno"] == errno.EAGAIN and lines[0]["forked"] < 24
    assert exit_.exit_code == 3
    assert "the sandbox reached its limit of 24 processes" in exit_.reason
    assert os.waitpid(os.spawnv(os.P_NOWAIT, "/bin/true", ["true"]), 0)[1] == 0  # host: fine


@needs_root
def test_a_blocked_network_has_only_loopback_and_it_is_up():
    code = PRELUDE + r'''
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
client = socket.create_connection(server.getsockname(), timeout=2)
outside = attempt(lambda: socket.create_connection(("1.1.1.1", 53), timeout=2))
print(json.dumps({"interfaces": [n for _, n in socket.if_nameindex()],
                  "flags": int(open("/sys/class/net/lo/flags").read(), 16),
                  "outside": outside}))
'''
    _, r, _ = sandboxed(SandboxPolicy(block_network=True), code)
    assert r["interfaces"] == ["lo"]
    assert r["flags"] & 1  # IFF_UP
    assert r["outside"] == errno.ENETUNREACH


@needs_root
def test_without_nftables_a_blocked_network_works_and_an_open_one_names_the_package(
        tmp_path, monkeypatch):
    """A host with iproute2 and no nftables (what the README's install leaves)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ip").symlink_to(shutil.which("ip"))
    monkeypatch.setenv("PATH", str(bin_dir))
    code = "import socket\nprint('[%d]' % len(socket.if_nameindex()))"
    _, r, _ = sandboxed(SandboxPolicy(block_network=True), code)
    assert r == [1]  # loopback only
    with pytest.raises(OSError, match=r"apt-get install nftables.*block_network=True"):
        sandboxed(SandboxPolicy(), code)


@needs_root
def test_an_open_network_is_the_namespace_the_host_made_for_it():
    from ketch.backends import netns

    if netns.fingerprint() is not None:
        pytest.skip(f"sandbox networks: {netns.fingerprint()}")
    code = PRELUDE + r'''
print(json.dumps({"interfaces": [n for _, n in socket.if_nameindex()],
                  "flags": int(open("/sys/class/net/eth0/flags").read(), 16)}))
'''

    async def go() -> tuple[list[Any], str, bool]:
        ns, handle = await start(SandboxPolicy(cidr_allowlist=["10.99.0.0/24"]), code)
        path = handle.sandbox.network.path
        assert os.path.exists(path)
        exit_, lines, err = await finish(ns, handle)
        assert exit_.exit_code == 0, err
        return lines, path, os.path.exists(path)

    lines, path, left = asyncio.run(go())
    assert sorted(lines[0]["interfaces"]) == ["eth0", "lo"] and lines[0]["flags"] & 1
    assert not left  # released with the sandbox


@needs_root
def test_stdin_reaches_the_command():
    code = PRELUDE + r'''
for line in sys.stdin:
    print(json.dumps({"echo": line.strip().upper()}), flush=True)
'''

    async def go() -> tuple[list[Any], ContainerExit]:
        ns, handle = await start(SandboxPolicy(block_network=True), code)
        echoed = []
        for word in ("hello", "sandbox"):
            handle.stdin.write(word.encode() + b"\n")
            await handle.stdin.drain()
            echoed.append(json.loads(await handle.stdout.readline()))
        handle.stdin.close()
        exit_, _, _ = await finish(ns, handle)
        return echoed, exit_

    echoed, exit_ = asyncio.run(go())
    assert echoed == [{"echo": "HELLO"}, {"echo": "SANDBOX"}]
    assert exit_.exit_code == 0


@needs_root
def test_an_image_layer_shows_over_the_host_whose_data_stays_hidden(tmp_path):
    layer = tmp_path / "layers" / "one"
    (layer / "root" / "app").mkdir(parents=True)
    (layer / "root" / "app" / "main.py").write_text("print('image')")
    (layer / "etc" / "ssh").mkdir(parents=True)
    (layer / "etc" / "ssh" / "ssh_config").write_text("image's")
    (layer / "tmp").mkdir()
    (layer / "tmp" / "from-image").write_text("image's")
    code = PRELUDE + r'''
def listing(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else None
print(json.dumps({p: listing(p) for p in ("/root", "/root/app", "/etc/ssh", "/tmp", "/home")}))
'''
    image = {"layers": [str(layer)], "binds": [], "workdir": "/root/app"}
    _, r, _ = sandboxed(SandboxPolicy(block_network=True), code, image=image)
    assert r["/root/app"] == ["main.py"]
    assert "app" in r["/root"] and ".bashrc" not in r["/root"]
    assert r["/etc/ssh"] == ["ssh_config"]  # the host's ssh_config.d and any keys: hidden
    venv = os.path.realpath(sys.prefix).split("/")  # the interpreter's virtualenv, read-only
    bound = [venv[2]] if venv[1] == "tmp" else []
    assert r["/tmp"] == sorted(["from-image", *bound])
    assert r["/home"] == []


@needs_root
def test_release_leaves_nothing_behind():
    async def go() -> tuple[Path, Any]:
        ns, handle = await start(SandboxPolicy(block_network=True), "print('{}')")
        setup = handle.sandbox
        await finish(ns, handle)
        await setup.release()  # again: nothing left to do
        return setup.scratch, setup.cgroup

    scratch, cgroup = asyncio.run(go())
    assert not scratch.exists()
    assert str(scratch) not in Path("/proc/self/mountinfo").read_text()
    assert not any(d.exists() for d in cgroup.dirs.values())


def test_a_sandbox_gets_no_credentials():
    env = {"PATH": "/bin", "KETCH_CONTAINER_TOKEN": "t", "KETCH_SERVER": "unix:/s",
           "KETCH_HOME": "/h", "KETCH_BOARD": "/b", "KETCH_CONTAINER_ID": "ct-1"}
    assert sandbox_env(env) == {"PATH": "/bin", "KETCH_CONTAINER_ID": "ct-1"}


def test_interpreters_stay_visible_but_nothing_around_them(tmp_path):
    assert hidden("/root") and hidden("/tmp/venv") and hidden("/etc/shadow")
    assert not hidden("/usr/bin/python3") and not hidden("/var/lib/dpkg")
    assert hidden("/var/log")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    os.symlink(sys.executable, venv / "bin" / "python")
    binds = visible_prefixes([str(venv / "bin" / "python"), "/usr/bin/python3"])
    real = os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))
    assert [str(venv), str(venv), True] in binds
    assert all(b[0] in (str(venv), real) for b in binds)
    layer = tmp_path / "layer"  # an image's venv: its python is a link inside the layer
    (layer / "opt" / "venv" / "bin").mkdir(parents=True)
    os.symlink(os.path.realpath(sys.executable), layer / "opt" / "venv" / "bin" / "python")
    from_image = visible_prefixes(["/opt/venv/bin/python"], [str(layer)])
    assert from_image == ([[real, real, True]] if hidden(real) else [])


# The filter, run here on a small classic-BPF interpreter: no root, no kernel needed.

def run_filter(machine: str, name: str | int, *args: int, arch: int | None = None) -> str:
    insns = seccomp.program(machine)
    nr = name if isinstance(name, int) else seccomp.SYSCALLS[machine][name]
    padded = [*args, 0, 0, 0, 0, 0, 0][:6]
    data = struct.pack("<iIQ6Q", nr, arch or seccomp.AUDIT_ARCH[machine], 0, *padded)
    a, pc = 0, 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        if code == seccomp.LD_ABS:
            a = struct.unpack_from("<I", data, k)[0]
        elif code == seccomp.AND:
            a &= k
        elif code in (seccomp.JEQ, seccomp.JGE, seccomp.JSET):
            taken = {seccomp.JEQ: a == k, seccomp.JGE: a >= k, seccomp.JSET: a & k}[code]
            pc += jt if taken else jf
        elif code == seccomp.RET:
            if k == seccomp.RET_ALLOW:
                return "allow"
            if k == seccomp.RET_KILL_PROCESS:
                return "kill"
            return os.strerror(k & 0xFFFF)


@pytest.mark.parametrize("machine", sorted(seccomp.SYSCALLS))
def test_the_filter_denies_what_a_sandbox_never_needs(machine):
    numbers = seccomp.SYSCALLS[machine]
    eperm = os.strerror(errno.EPERM)
    for name in seccomp.DENIED:
        if name in numbers:
            assert run_filter(machine, name) == eperm, name
    assert run_filter(machine, "clone3") == os.strerror(errno.ENOSYS)
    assert run_filter(machine, "clone", 0x01200011) == "allow"  # fork's flags
    assert run_filter(machine, "clone", 0x003D0F00) == "allow"  # a thread's
    for flag in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                 0x40000000):
        assert run_filter(machine, "clone", 0x11 | flag) == eperm
    assert run_filter(machine, "personality", 0) == "allow"
    assert run_filter(machine, "personality", 0xFFFFFFFF) == "allow"
    assert run_filter(machine, "personality", 0x0040000) == eperm
    assert run_filter(machine, "socket", 2, 1) == "allow"  # TCP
    assert run_filter(machine, "socket", 16, 3) == "allow"  # netlink, raw
    assert run_filter(machine, "socket", 2, 3 | 0x80000) == eperm  # raw IPv4, cloexec
    assert run_filter(machine, "socket", 10, 3) == eperm
    assert run_filter(machine, "socket", 17, 2) == eperm  # packet
    assert run_filter(machine, 0) == run_filter(machine, 63) == "allow"  # read, and others
    assert run_filter(machine, 0, arch=0x40000003) == "kill"  # i386 (or arm) calls
    if machine == "x86_64":
        assert run_filter(machine, 0x40000000 + 165) == eperm  # x32
