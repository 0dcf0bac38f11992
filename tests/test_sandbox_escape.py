"""The escape suite: hostile programs run inside sandboxes on each runtime (``namespace`` and
``gvisor``), each test asserting that its attack failed inside AND that the host is intact.

Each attack is a Python program run with ``sb.exec("python", "-c", ...)`` (the sandbox's
``python`` is the host's interpreter, bound read-only). It tries things with `attempt`, which
records "ok" when an attempt worked and the errno's name (EPERM, ENOENT...) when it failed,
and prints one JSON line of those outcomes. The test then checks the outcomes and, from the
host, that nothing changed there (`Host.assert_intact` runs after every test as well).

Read-only probes share one sandbox per runtime (`sb`); attacks that change or end a sandbox
(resource bombs, timeouts, network policies) get their own. Where gVisor lets an operation
happen inside its own kernel (a mount in a new user namespace, ptrace between the sandbox's
own processes), the test says so and checks that nothing of it reached the host.

Two limits are lowered for the fork and disk bombs only (`create_tight`): a 64 MiB disk with
``ephemeral_disk=64``, and 64 processes by patching the embedded control plane's
`SandboxPolicy` (no option sets the pids limit). The mechanisms (cgroup pids.max,
RLIMIT_NPROC, the tmpfs under the writable layer) are the ones the defaults use; filling the
default 4 GiB disk takes ~10 s, and forking 1024 processes under gVisor's ptrace platform ~40 s.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from outside_host import OUTSIDE_PORT, Outside, from_host, outside_host
from sandbox_runtimes import RUNTIMES, usable

import ketch
from ketch import client, config, exception, synchronizer
from ketch.backends import gvisor, netns
from ketch.protocol.worker import SandboxPolicy
from ketch.server import sandboxes as sandbox_service

pytestmark = pytest.mark.skipif(all(usable(r) for r in ("namespace", "gvisor")),
                                reason="no sandbox runtime works here")
network_problem = netns.fingerprint()
needs_network = pytest.mark.skipif(network_problem is not None,
                                   reason=f"sandbox networks: {network_problem}")

TOKEN = secrets.token_hex(6)  # names what the attacks leave, to look for it on the host
TIGHT_PIDS = 64
TIGHT_DISK_MIB = 64
# Outcomes that mean the kernel (the host's, or gVisor's) refused the operation outright.
DENIED = {"EPERM", "EACCES", "ENOSYS", "ENOTSUP", "EOPNOTSUPP"}

# System-call numbers without a libc wrapper, kept here rather than taken from
# ketch.backends.seccomp: a wrong number there must not go unnoticed here.
SYSCALLS = {
    "x86_64": {"init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
               "bpf": 321, "ptrace": 101, "process_vm_readv": 310, "pivot_root": 155,
               "fsopen": 430, "open_tree": 428, "pidfd_open": 434, "iopl": 172},
    "aarch64": {"init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104,
                "bpf": 280, "ptrace": 117, "process_vm_readv": 270, "pivot_root": 41,
                "fsopen": 430, "open_tree": 428, "pidfd_open": 434},
}

PRELUDE = r"""
import ctypes, errno, json, os, shutil, signal, socket, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
libc = ctypes.CDLL(None, use_errno=True)
ARGS = json.loads(sys.argv[1])
NR = ARGS.pop("syscalls")
out = {}
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWUSER = 0x00020000, 0x04000000, 0x10000000
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384

def name_of(exc):
    return errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else type(exc).__name__

def attempt(name, action):
    # "ok" if action() worked (its JSON-able value under name + "="), else the errno's name
    try:
        value = action()
    except OSError as exc:
        out[name] = name_of(exc)
        return None
    except Exception as exc:
        out[name] = type(exc).__name__
        return None
    out[name] = "ok"
    if isinstance(value, (str, int, float, list, bool)):
        out[name + "="] = value
    return value

def check(result):
    if result == -1:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result

def syscall(name, *args):
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    return check(libc.syscall(ctypes.c_long(NR[name]), *args))

def read(path):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")

def write(path, text="pwned"):
    with open(path, "w") as f:
        f.write(text)
    return read(path)

def pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())

def reach(targets, timeout=1.0):
    # TCP connects to each [address, port], all at once: "ok" or why not
    def one(target):
        try:
            socket.create_connection(tuple(target), timeout).close()
            return "ok"
        except OSError as exc:
            return name_of(exc)
    with ThreadPoolExecutor(max(1, len(targets))) as pool:
        return list(pool.map(one, targets))

def in_child(name, action):
    # attempt(name, action) in a forked child: for what would change this process for good
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        attempt(name, action)
        os.write(writer, json.dumps({k: v for k, v in out.items() if k.startswith(name)}).encode())
        os._exit(0)
    os.close(writer)
    data = b""
    while chunk := os.read(reader, 1 << 16):
        data += chunk
    os.waitpid(pid, 0)
    out.update(json.loads(data or b"{}"))
"""
EPILOGUE = "\nprint(json.dumps(out))\n"


def attack(sb: ketch.Sandbox, body: str, timeout: float = 60, **args: Any) -> dict[str, Any]:
    """Run the attack ``body`` (after `PRELUDE`, with ``ARGS`` = ``args``) in ``sb``: the
    outcomes it printed."""
    args["syscalls"] = SYSCALLS.get(os.uname().machine, {})
    p = sb.exec("python", "-c", PRELUDE + body + EPILOGUE, json.dumps(args), timeout=timeout)
    stdout, stderr = p.stdout.read(), p.stderr.read()
    assert p.wait() == 0, f"the attack program failed: {stderr}"
    outcomes = json.loads(stdout.splitlines()[-1])
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    print(f"outcomes of {test}: {json.dumps(outcomes)}")  # shown with a failure, or with -s
    return outcomes


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class Host:
    """What the attacks aim at on the host, as it was before them."""

    canary: Path  # in the test's tmp folder
    home_canary: Path  # in KETCH_HOME
    secret: str
    hostname: str = field(default_factory=socket.gethostname)
    python: str = field(default_factory=lambda: os.path.realpath(sys.executable))
    python_hash: str = ""
    libpython: str = ""
    libpython_stat: tuple[int, ...] = ()
    libpython_hash: str = ""
    core_pattern: str = ""
    modules: str = ""
    wall_minus_monotonic: float = field(default_factory=lambda: time.time() - time.monotonic())

    def __post_init__(self) -> None:
        self.python_hash = sha256(self.python)
        lib = Path(sysconfig.get_config_var("LIBDIR") or "/nonexistent",
                   sysconfig.get_config_var("LDLIBRARY") or "")
        if lib.is_file():
            self.libpython = str(lib.resolve())
            self.libpython_stat = self._stat(self.libpython)
            self.libpython_hash = sha256(self.libpython)
        self.core_pattern = Path("/proc/sys/kernel/core_pattern").read_text()
        self.modules = _module_names()

    @property
    def canaries(self) -> list[str]:
        return [str(self.canary), str(self.home_canary)]

    def bound_into(self, folder: str) -> set[str]:
        """What of ``folder`` a sandbox may see: only the way to the interpreter's
        installation, bound read-only where it lives in a folder sandboxes do not see."""
        inside = os.path.relpath(self.python, folder)
        return set() if inside.startswith("..") else {inside.split("/")[0]}

    @staticmethod
    def _stat(path: str) -> tuple[int, ...]:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns, st.st_ino

    def assert_intact(self) -> None:
        for canary in (self.canary, self.home_canary):
            assert canary.read_text() == self.secret, f"{canary} changed"
        assert socket.gethostname() == self.hostname
        assert sha256(self.python) == self.python_hash, f"{self.python} changed"
        if self.libpython:
            assert self._stat(self.libpython) == self.libpython_stat
        assert Path("/proc/sys/kernel/core_pattern").read_text() == self.core_pattern
        assert _module_names() == self.modules
        drift = time.time() - time.monotonic() - self.wall_minus_monotonic
        assert abs(drift) < 5, f"the host's clock moved by {drift:.1f} s"
        assert subprocess.run(["true"]).returncode == 0  # it still starts processes
        for folder in ("/usr/bin", "/etc", os.path.dirname(self.python)):
            assert not [n for n in os.listdir(folder) if TOKEN in n], f"a file of ours in {folder}"


def _module_names() -> str:
    try:
        return "\n".join(sorted(line.split()[0] for line in Path("/proc/modules").read_text()
                                .splitlines()))
    except OSError:
        return ""


def host_addresses() -> list[str]:
    links = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True,
                                      text=True, check=True).stdout)
    return [a["local"] for link in links for a in link["addr_info"]]


def sandbox_processes(sandbox_id: str) -> list[int]:
    """The host's processes in the sandbox's cgroups."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            text = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        if f"/{sandbox_id}\n" in text or text.endswith(f"/{sandbox_id}"):
            found.append(int(pid))
    return found


def wait_until_gone(sandbox_id: str, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while sandbox_processes(sandbox_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox_processes(sandbox_id) == [], "processes of the sandbox outlived it"


def host_mount_tables_mention(word: str) -> list[int]:
    """The host's processes (runsc's and every launcher's included) whose mount table has
    ``word`` in it."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if word in Path(f"/proc/{pid}/mountinfo").read_text():
                found.append(int(pid))
        except OSError:
            continue
    return found


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> ketch.App:
    return ketch.App.lookup("sandbox-escape-tests", create_if_missing=True)


@pytest.fixture(scope="module", params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def host_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    secret = f"host-secret-{TOKEN}"
    canary = tmp_path_factory.mktemp("escape") / "canary.txt"
    canary.write_text(secret)
    home_canary = config.home() / f"escape-canary-{TOKEN}"
    home_canary.write_text(secret)
    state = Host(canary, home_canary, secret)
    yield state
    state.assert_intact()
    if state.libpython:
        assert sha256(state.libpython) == state.libpython_hash
    home_canary.unlink()


@pytest.fixture
def host(host_state: Host) -> Iterator[Host]:
    """The host's state; checked again after the test."""
    yield host_state
    host_state.assert_intact()


@pytest.fixture(scope="module")
def sb(app: ketch.App, runtime: str) -> Iterator[ketch.Sandbox]:
    """One sandbox per runtime for the probes that leave it as it was, on the default network
    where sandbox networks work here."""
    sandbox = ketch.Sandbox.create(app=app, runtime=runtime, timeout=300,
                                   block_network=network_problem is not None)
    yield sandbox
    sandbox.terminate()


def create_tight(app: ketch.App, runtime: str, **kwargs: Any) -> ketch.Sandbox:
    """A sandbox of `TIGHT_PIDS` processes (no option sets that: the embedded control
    plane's policy is patched) on a disk of `TIGHT_DISK_MIB` (``ephemeral_disk``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sandbox_service, "SandboxPolicy",
                      functools.partial(SandboxPolicy, pids=TIGHT_PIDS))
        return ketch.Sandbox.create(app=app, runtime=runtime, ephemeral_disk=TIGHT_DISK_MIB,
                                    **kwargs)


@pytest.fixture(scope="module")
def tight(app: ketch.App, runtime: str) -> Iterator[ketch.Sandbox]:
    sandbox = create_tight(app, runtime, timeout=300, block_network=True)
    yield sandbox
    sandbox.terminate()


@pytest.fixture(scope="module")
def host_listeners() -> Iterator[list[tuple[str, int]]]:
    """Listeners on the host's 127.0.0.1 and on all its addresses (standing in for `ketch
    server` on 0.0.0.0): every address and port of the host they answer on, each checked."""
    loopback = socket.create_server(("127.0.0.1", 0))
    everywhere = socket.create_server(("0.0.0.0", 0))
    port = everywhere.getsockname()[1]
    targets = [("127.0.0.1", loopback.getsockname()[1])]
    targets += [(address, port) for address in host_addresses()]
    try:
        for target in targets:
            socket.create_connection(target, timeout=1).close()  # the host does answer
        yield targets
    finally:
        loopback.close()
        everywhere.close()


# What sits next to the host: the metadata service, RFC 1918 and CGNAT addresses (each on the
# outside host, routed to it for the sandboxes' traffic only; see `outside_host`).
PRIVATE_TARGETS = ["169.254.169.254", f"192.168.{os.getpid() % 256}.7",
                   f"10.{os.getpid() % 256}.0.7", f"172.16.{os.getpid() % 256}.7",
                   f"100.64.{os.getpid() % 256}.7"]


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    with outside_host(private=PRIVATE_TARGETS) as machine:
        yield machine


def control_plane_socket() -> str:
    address = synchronizer.run(client.get_client()).transport.control_plane.address
    assert address.startswith("unix:"), address
    return address.removeprefix("unix:")


# -- 1, 2: the host's files -----------------------------------------------------------------

READ_HOST_FILES = r"""
out["listings"] = {d: sorted(os.listdir(d)) for d in ("/tmp", "/home", "/srv", "/mnt", "/root")
                   if os.path.isdir(d)}
canaries = ARGS["canaries"]
for i, path in enumerate(canaries):
    attempt(f"{i}:by path", lambda: read(path))
    attempt(f"{i}:/proc/self/root", lambda: read("/proc/self/root" + path))
    attempt(f"{i}:dot-dot", lambda: read("/../../../.." + path))
    attempt(f"{i}:relative", lambda: (os.chdir("/tmp"), read("../" * 12 + path.lstrip("/")))[1])
    for pid in pids():
        attempt(f"{i}:/proc/{pid}/root", lambda: read(f"/proc/{pid}/root" + path))
        attempt(f"{i}:/proc/{pid}/cwd/..", lambda: read(f"/proc/{pid}/cwd/../../../.." + path))
    link = f"/tmp/root-link-{i}"
    attempt(f"{i}:symlink to /proc/1/root",
            lambda: (os.path.lexists(link) or os.symlink("/proc/1/root", link),
                     read(link + path))[1])
for secret in ("/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/ssh"):
    attempt(secret, lambda: os.stat(secret) and "exists")
out["home exists"] = os.path.exists(ARGS["home"])
# Host paths the sandbox can learn: its mount options, and its init's command line.
learned = set()
for line in read("/proc/self/mounts").splitlines():
    for option in line.split()[3].split(","):
        if option.startswith(("upperdir=", "workdir=", "lowerdir=")):
            learned.update(option.split("=", 1)[1].split(":"))
try:
    import marshal
    for word in read("/proc/1/cmdline").split("\0"):
        if len(word) > 32 and all(c in "0123456789abcdef" for c in word):
            def paths(value):
                if isinstance(value, str) and value.startswith("/"):
                    yield value
                elif isinstance(value, dict):
                    for v in value.values():
                        yield from paths(v)
                elif isinstance(value, (list, tuple)):
                    for v in value:
                        yield from paths(v)
            learned.update(paths(marshal.loads(bytes.fromhex(word))))
except Exception as exc:
    out["cmdline"] = repr(exc)
out["learned"] = {p: os.path.exists(p) for p in sorted(learned)}
"""


def test_host_files_cannot_be_read(sb, host):
    out = attack(sb, READ_HOST_FILES, canaries=host.canaries, home=str(config.home()))
    reads = {k: v for k, v in out.items() if k[:2] in ("0:", "1:") and not k.endswith("=")}
    assert reads and "ok" not in reads.values(), reads
    assert host.secret not in json.dumps(out)
    assert all(out[name] == "ENOENT" for name in ("/etc/shadow", "/etc/gshadow", "/etc/sudoers",
                                                   "/etc/ssh")), out
    assert out["home exists"] is False
    # The host's folders of data are empty inside (the interpreter's installation aside).
    for folder, entries in out["listings"].items():
        assert set(entries) <= host.bound_into(folder), (folder, entries)
    # Host paths named by its mounts or its init's command line lead nowhere inside.
    hidden = (str(config.home()), "/tmp/", "/run/", "/sys/fs/cgroup/")
    leaks = [p for p, exists in out["learned"].items() if exists and p.startswith(hidden)]
    assert leaks == [], leaks


WRITE_OUTSIDE = r"""
import sysconfig
token = ARGS["token"]
python_dir = os.path.dirname(os.path.realpath(sys.executable))
targets = {
    "/usr/bin": f"/usr/bin/ketch-escape-{token}",
    "/etc": f"/etc/ketch-escape-{token}",
    "interpreter's folder": f"{python_dir}/ketch-escape-{token}",
    "site-packages .pth": f"{sysconfig.get_paths()['purelib']}/ketch-escape-{token}.pth",
}
for i, canary in enumerate(ARGS["canaries"]):
    targets[f"canary {i}"] = canary
def make(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return write(path)
for name, path in targets.items():
    attempt(name, lambda: make(path))
out["targets"] = targets
def append(path):
    with open(path, "ab") as f:
        f.write(b"KETCH-ESCAPE")
    return os.path.getsize(path)
attempt("append to /usr/bin/tac", lambda: append("/usr/bin/tac"))
attempt("append to the interpreter", lambda: append(os.path.realpath(sys.executable)))
for canary in ARGS["canaries"]:  # the sandbox's own copies: later probes look for the host's
    if os.path.exists(canary):
        os.unlink(canary)
"""


def test_writes_never_reach_the_host(sb, host):
    tac = sha256("/usr/bin/tac")
    out = attack(sb, WRITE_OUTSIDE, token=TOKEN, canaries=host.canaries)
    # The host's system folders are root's, and the sandbox's code is not root...
    assert out["/usr/bin"] == out["/etc"] == "EACCES"
    assert out["append to /usr/bin/tac"] == "EACCES"
    # ...and the interpreter's installation, bound read-only, takes none either.
    assert out["interpreter's folder"] in {"EROFS", "EACCES"}
    assert out["site-packages .pth"] in {"EROFS", "EACCES"}
    assert out["append to the interpreter"] in {"EROFS", "ETXTBSY", "EACCES"}
    # The host has none of it.
    for path in out["targets"].values():
        if path not in host.canaries:
            assert not os.path.lexists(path), f"{path} reached the host"
    assert sha256("/usr/bin/tac") == tac
    # (the canaries are checked by host.assert_intact)


OWN_FOLDERS = r"""
token = ARGS["token"]
for folder in ("/", "/root", "/tmp", "/dev/shm", os.getcwd(), "/home", "/srv"):
    attempt(f"write in {folder}", lambda: write(os.path.join(folder, f"ketch-own-{token}")))
"""


def test_its_own_folders_take_its_writes_and_the_host_none(sb, host):
    out = attack(sb, OWN_FOLDERS, token=TOKEN)
    assert {v for k, v in out.items() if not k.endswith("=")} == {"ok"}, out
    for folder in ("/", "/root", "/tmp", "/dev/shm", "/home", "/srv"):
        assert not os.path.lexists(os.path.join(folder, f"ketch-own-{TOKEN}"))


ROOT_ONLY = r"""
out["uid"] = os.getuid()
for path in ARGS["paths"]:
    attempt(path, lambda: read(path))
out["/opt"] = sorted(os.listdir("/opt"))
out["/etc"] = sorted(os.listdir("/etc"))
"""


@pytest.fixture
def root_only_files() -> Iterator[list[str]]:
    """Files only root may read (0600, as TLS keys and VPN secrets are): in /etc, in /opt,
    and in a system folder every sandbox sees (/usr/lib)."""
    paths = ["/etc/ketch-test-secret.key", "/opt/ketch-test/secret",
             f"/usr/lib/ketch-test-secret-{os.getpid()}"]
    made_opt = not os.path.exists("/opt/ketch-test")
    os.makedirs("/opt/ketch-test", exist_ok=True)
    try:
        for path in paths:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, f"root-only {TOKEN}".encode())
            os.close(fd)
        yield paths
    finally:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        if made_opt:
            os.rmdir("/opt/ketch-test")


def new_sandbox_attack(app: ketch.App, runtime: str, paths: list[str]) -> dict:
    sandbox = ketch.Sandbox.create(app=app, runtime=runtime, timeout=60, block_network=True)
    try:
        return attack(sandbox, ROOT_ONLY, paths=paths)
    finally:
        sandbox.terminate()


def test_root_only_host_files_cannot_be_read(app, runtime, root_only_files, host):
    etc_key, opt_secret, usr_secret = root_only_files
    # The first may be a spare whose disk was made before the files were: it hides what the
    # host had then, so it may see their names; its code still cannot read them.
    out = new_sandbox_attack(app, runtime, root_only_files)
    assert out["uid"] != 0
    assert {out[etc_key], out[opt_secret], out[usr_secret]} <= {"ENOENT", "EACCES"}
    out = new_sandbox_attack(app, runtime, root_only_files)  # its disk made after the files
    assert out["uid"] != 0
    assert out[etc_key] == out[opt_secret] == "ENOENT"  # /etc is an allowlist; /opt hidden
    assert out[usr_secret] == "EACCES"  # in sight, and not its user's
    assert out["/opt"] == [] and "ketch-test-secret.key" not in out["/etc"]
    assert {"passwd", "group", "hosts", "resolv.conf", "nsswitch.conf"} <= set(out["/etc"])
    assert TOKEN not in json.dumps(out)


# -- 3, 18: processes -----------------------------------------------------------------------

SEE_HOST_PROCESSES = r"""
host_pid = ARGS["host_pid"]
out["pids"] = pids()
out["host pid visible"] = os.path.exists(f"/proc/{host_pid}")
attempt("kill(host pid, 0)", lambda: os.kill(host_pid, 0))
attempt("pidfd_open(host pid)", lambda: syscall("pidfd_open", host_pid, 0))
attempt("init cmdline", lambda: read("/proc/1/cmdline")[:200])
attempt("pid namespace", lambda: os.readlink("/proc/self/ns/pid"))
"""


def test_host_processes_are_out_of_sight_and_reach(sb, host):
    out = attack(sb, SEE_HOST_PROCESSES, host_pid=os.getpid())
    assert os.getpid() not in out["pids"] and out["host pid visible"] is False
    assert out["kill(host pid, 0)"] == "ESRCH"
    assert out["pidfd_open(host pid)"] in {"ESRCH", "ENOSYS"}
    assert len(out["pids"]) <= 6, out["pids"]  # init, supervisor, this attack: a handful
    host_init = Path("/proc/1/cmdline").read_bytes().decode(errors="replace")[:200]
    assert out.get("init cmdline=") != host_init
    assert out.get("pid namespace=") != os.readlink("/proc/self/ns/pid")


NEIGHBOUR = r"""
token = ARGS["token"]
write(f"/tmp/neighbour-{token}", ARGS["secret"])
listener = socket.create_server(("0.0.0.0", 8123))
probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
probe.connect(("10.255.255.1", 9))  # no packet is sent: only the route is looked up
out["address"] = probe.getsockname()[0]
sleeper = subprocess.Popen(["sleep", f"86399.{len(token)}"])
out["sleeper"] = sleeper.pid
print(json.dumps(out), flush=True)
sys.stdin.read()  # hold the listener and the sleeper until the test is done
sleeper.kill()
"""
PRY_ON_NEIGHBOUR = r"""
token, target = ARGS["token"], ARGS["target"]
seen = []
for pid in pids():
    try:
        if pid != os.getpid() and "86399" in read(f"/proc/{pid}/cmdline"):
            seen.append(pid)
    except OSError:
        pass
out["their process seen"] = seen
attempt("their file by path", lambda: read(f"/tmp/neighbour-{token}"))
attempt("their file in the host's scratch", lambda: read(ARGS["scratch_file"]))
out["their listener"] = reach([[target, 8123]])[0]
out["pids"] = pids()
"""


@needs_network
def test_a_sandbox_cannot_reach_another(app, runtime, sb, host):
    neighbour = sb.exec("python", "-u", "-c", PRELUDE + NEIGHBOUR,
                        json.dumps({"token": TOKEN, "secret": host.secret, "syscalls": {}}),
                        timeout=60, bufsize=1)
    told = json.loads(next(iter(neighbour.stdout)))
    scratch_file = (config.home() / "containers" / sb.object_id / "disk" / "upper" / "tmp"
                    / f"neighbour-{TOKEN}")
    intruder = ketch.Sandbox.create(app=app, runtime=runtime, timeout=120)
    try:
        out = attack(intruder, PRY_ON_NEIGHBOUR, token=TOKEN, target=told["address"],
                     scratch_file=str(scratch_file))
        assert out["their process seen"] == []
        assert out["their file by path"] == "ENOENT"
        assert out["their file in the host's scratch"] == "ENOENT"
        assert out["their listener"] != "ok"
        assert host.secret not in json.dumps(out)
        # Signal every process it can: its own only (its supervisor among them).
        kill = intruder.exec("python", "-c", "import os, signal\nos.kill(-1, signal.SIGKILL)")
        kill.wait()
    finally:
        intruder.terminate()
    # The neighbour lives on, whole.
    alive = attack(sb, "out['sleeper alive'] = os.path.exists(f\"/proc/{ARGS['pid']}\")\n"
                   "out['file'] = read(f\"/tmp/neighbour-{ARGS['token']}\")\n",
                   pid=told["sleeper"], token=TOKEN)
    assert alive == {"sleeper alive": True, "file": host.secret}
    neighbour.stdin.write_eof()
    neighbour.stdin.drain()
    assert neighbour.wait() == 0
    wait_until_gone(intruder.object_id)


# -- 4, 5, 6: the network -------------------------------------------------------------------

BLOCKED_NETWORK = r"""
out["interfaces"] = sorted(name for _, name in socket.if_nameindex())
attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
out["tcp"] = reach(ARGS["targets"])
attempt("udp out", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
    b"x", ("1.1.1.1", 53)))
"""


@needs_network
def test_a_blocked_network_reaches_nothing(app, runtime, host_listeners, host):
    sandbox = ketch.Sandbox.create(app=app, runtime=runtime, block_network=True, timeout=60)
    try:
        out = attack(sandbox, BLOCKED_NETWORK, targets=host_listeners)
    finally:
        sandbox.terminate()
    assert out["interfaces"] == ["lo"]
    assert out["dns"] != "ok" and out["udp out"] != "ok"
    assert "ok" not in out["tcp"], dict(zip(map(str, host_listeners), out["tcp"]))


REACH = 'out["tcp"] = reach(ARGS["targets"])\n'


@needs_network
def test_only_the_allowlist_is_reachable(app, runtime, outside, host):
    target = [[outside.private, OUTSIDE_PORT]]
    allowed = ketch.Sandbox.create(app=app, runtime=runtime, timeout=60,
                                   cidr_allowlist=[f"{outside.private}/32"])
    other = ketch.Sandbox.create(app=app, runtime=runtime, timeout=60,
                                 cidr_allowlist=["10.98.0.0/24"])
    try:
        assert attack(allowed, REACH, targets=target)["tcp"] == ["ok"]  # the positive control
        assert attack(other, REACH, targets=target)["tcp"] == ["TimeoutError"]  # dropped
    finally:
        allowed.terminate()
        other.terminate()


@needs_network
def test_the_default_network_reaches_the_internet_only(app, runtime, sb, outside,
                                                       host_listeners, host):
    """The metadata service, RFC 1918, CGNAT, a machine on the host's own subnet and the
    host's own addresses: each answers the host, none the sandbox; a public address does."""
    private = [[address, OUTSIDE_PORT] for address in (outside.private, *PRIVATE_TARGETS)]
    assert [from_host(outside, address) for address, _ in private] == ["ok"] * len(private)
    out = attack(sb, REACH, targets=[[outside.public, OUTSIDE_PORT], *private, *host_listeners])
    assert out["tcp"][0] == "ok", out  # the positive control: the internet is reached
    assert "ok" not in out["tcp"][1:], dict(zip(map(str, private + host_listeners),
                                                out["tcp"][1:]))
    # only an allowlist that names a private address opens it
    named = ketch.Sandbox.create(app=app, runtime=runtime, timeout=60,
                                 cidr_allowlist=[f"{a}/32" for a, _ in private])
    try:
        assert attack(named, REACH, targets=private)["tcp"] == ["ok"] * len(private)
    finally:
        named.terminate()


CONTROL_PLANE = r"""
out["tcp"] = reach(ARGS["targets"])
path = ARGS["socket"]
out["socket exists"] = os.path.exists(path)
attempt("connect to the socket",
        lambda: socket.socket(socket.AF_UNIX).connect(path))
attempt("connect to the host's abstract socket",
        lambda: socket.socket(socket.AF_UNIX).connect("\0" + ARGS["abstract"]))
attempt("socket named in /proc/net/unix", lambda: path in read("/proc/net/unix"))
leaks = {k for k in os.environ if k.startswith("KETCH_")}
for pid in pids():
    try:
        environ = read(f"/proc/{pid}/environ").split("\0")
    except OSError:
        continue
    leaks.update(e.split("=")[0] for e in environ if e.startswith("KETCH_"))
out["ketch variables"] = sorted(leaks)
"""


@needs_network
def test_the_control_plane_is_out_of_reach(sb, host_listeners, host):
    path = control_plane_socket()
    assert os.path.exists(path)
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(f"\0ketch-escape-{TOKEN}")
    abstract.listen()
    try:
        out = attack(sb, CONTROL_PLANE, targets=host_listeners, socket=path,
                     abstract=f"ketch-escape-{TOKEN}")
    finally:
        abstract.close()
    assert "ok" not in out["tcp"], dict(zip(map(str, host_listeners), out["tcp"]))
    assert out["socket exists"] is False
    assert out["connect to the socket"] == "ENOENT"
    assert out["connect to the host's abstract socket"] == "ECONNREFUSED"
    assert out.get("socket named in /proc/net/unix=") is not True
    assert out["ketch variables"] == []


# -- 7, 8, 9, 10: resources -----------------------------------------------------------------

FORK_BOMB = r"""
children, error = [], None
while len(children) < 4 * ARGS["limit"]:
    try:
        pid = os.fork()
    except OSError as exc:
        error = name_of(exc)
        break
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    children.append(pid)
out["forked"], out["error"], out["seen"] = len(children), error, len(pids())
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
# threads count too
import threading
release, threads = threading.Event(), []
try:
    while len(threads) < 4 * ARGS["limit"]:
        thread = threading.Thread(target=release.wait, daemon=True)
        thread.start()
        threads.append(thread)
except RuntimeError as exc:
    out["thread error"] = str(exc)
out["threads"] = len(threads)
release.set()
for thread in threads:
    thread.join()
"""
# The real thing, which never stops trying: the sandbox's end stops it.
SHELL_FORK_BOMB = "bomb() { bomb | bomb & }; bomb; sleep 30"


def test_a_fork_bomb_stops_at_the_pids_limit(app, runtime, host):
    sandbox = create_tight(app, runtime, timeout=60, block_network=True)
    try:
        out = attack(sandbox, FORK_BOMB, limit=TIGHT_PIDS)
        assert out["error"] == "EAGAIN" and 0 < out["forked"] < TIGHT_PIDS
        assert out["seen"] <= TIGHT_PIDS
        assert 0 < out["threads"] < TIGHT_PIDS and "thread" in out["thread error"]
        assert sandbox.exec("echo", "recovered").stdout.read() == "recovered\n"
        sandbox.exec("sh", "-c", SHELL_FORK_BOMB, timeout=3).wait()
        time.sleep(1)  # the bomb's processes go on without the shell that started them
        assert subprocess.run(["true"]).returncode == 0  # the host still starts processes
    finally:
        sandbox.terminate()
    wait_until_gone(sandbox.object_id)
    second = ketch.Sandbox.create(app=app, runtime=runtime, timeout=60, block_network=True)
    try:
        assert second.exec("echo", "fine").stdout.read() == "fine\n"
    finally:
        second.terminate()


MEMORY_BOMB = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 << 20))\n"


def test_a_memory_bomb_is_stopped_at_its_limit(app, runtime, host):
    sandbox = ketch.Sandbox.create("python", "-c", MEMORY_BOMB, app=app, runtime=runtime,
                                   memory=256, timeout=60, block_network=True)
    sandbox.wait(raise_on_termination=False)
    reason = ketch.Sandbox.from_id(sandbox.object_id)._info.reason
    assert "ran out of memory at" in reason and "256 MiB" in reason, reason
    assert sandbox.returncode not in (0, None)
    wait_until_gone(sandbox.object_id)


FILL_DISK = r"""
path, limit = ARGS["path"], ARGS["limit_mib"]
statvfs = os.statvfs(os.path.dirname(path))
out["size MiB"] = statvfs.f_blocks * statvfs.f_frsize >> 20
written, error, chunk = 0, None, b"\xa5" * (1 << 20)
try:
    with open(path, "wb") as f:
        while written < 2 * limit:
            f.write(chunk)
            written += 1
        f.flush()
        os.fsync(f.fileno())
except OSError as exc:
    error = name_of(exc)
out["written MiB"], out["error"] = written, error
"""


def sentry_tmpfs() -> set[str]:
    """The folders gVisor's sentry makes tmpfs mounts of, in its memory and of no size."""
    return {m["destination"] for m in gvisor.SENTRY_MOUNTS if m["type"] == "tmpfs"
            and not any(o.startswith("size=") for o in m.get("options", []))}


@pytest.mark.parametrize("folder", ["/root", "/tmp", "/dev/shm", "/dev"])
def test_filling_the_disk_stops_at_its_size(tight, runtime, folder, host, request):
    """Every writable folder: the root's layer, and the tmpfs mounts over it."""
    if runtime == "gvisor" and folder in sentry_tmpfs():
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            f"gVisor's {folder} is a tmpfs of its sentry's (SENTRY_MOUNTS in "
            "ketch/backends/gvisor.py), in memory, with no size: ephemeral_disk does not "
            "bound it, only a memory limit does, and a sandbox has none unless memory= is "
            "given")))
    free_before = shutil.disk_usage("/").free
    path = f"{folder}/ketch-fill-{TOKEN}"
    try:
        out = attack(tight, FILL_DISK, path=path, limit_mib=TIGHT_DISK_MIB)
        # the host's disk took none of it (tmpfs; 32 MiB of slack for other writers here)
        assert free_before - shutil.disk_usage("/").free < (32 << 20)
    finally:
        tight.exec("rm", "-f", path).wait()
    assert out["size MiB"] <= TIGHT_DISK_MIB, out
    if folder == "/dev" and out["error"] == "EACCES":  # root's (namespace): not a byte in it
        assert out["written MiB"] == 0, out
        return
    assert out["error"] == "ENOSPC", out
    assert out["written MiB"] <= TIGHT_DISK_MIB


def test_spinning_past_the_timeout_ends_the_sandbox(app, runtime, host):
    sandbox = ketch.Sandbox.create("python", "-c", "while True: pass", app=app,
                                   runtime=runtime, timeout=2, block_network=True)
    started = time.monotonic()
    with pytest.raises(exception.SandboxTimeoutError, match="timeout of 2 s"):
        sandbox.wait()
    assert time.monotonic() - started < 15
    assert sandbox.returncode == 124
    assert "timeout of 2 s" in ketch.Sandbox.from_id(sandbox.object_id)._info.reason
    wait_until_gone(sandbox.object_id)


# -- 11-17: the kernel ----------------------------------------------------------------------

MOUNT = r"""
token = ARGS["token"]
target = f"/tmp/ketch-mnt-{token}"
os.makedirs(target, exist_ok=True)
def mount(source, fstype, flags=0, data=None, where=target):
    check(libc.mount(source, where.encode(), fstype, ctypes.c_ulong(flags), data))
    return sorted(os.listdir(where))[:5]
attempt("tmpfs", lambda: mount(b"tmpfs", b"tmpfs"))
attempt("proc", lambda: mount(b"proc", b"proc"))
attempt("bind /", lambda: mount(b"/", None, MS_BIND | MS_REC))
attempt("cgroup (release_agent)", lambda: mount(b"cgroup", b"cgroup", 0, b"pids"))
prefix = os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))
attempt("remount the interpreter rw",
        lambda: mount(None, None, MS_REMOUNT | MS_BIND, None, where=prefix))
attempt("fsopen", lambda: syscall("fsopen", b"tmpfs", 0))
attempt("open_tree", lambda: syscall("open_tree", -100, b"/", 1))
attempt("pivot_root", lambda: syscall("pivot_root", b"/tmp", target.encode()))
in_child("chroot", lambda: os.chroot("/tmp"))
major, minor = ARGS["root_device"]
node = f"/tmp/disk-{token}"
attempt("mknod the host's disk", lambda: os.mknod(node, 0o600 | 0o060000,
                                                  os.makedev(major, minor)))
attempt("open the host's disk", lambda: os.read(os.open(node, os.O_RDONLY), 512).hex())
def userns_mount():
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS))
    mount(b"tmpfs", b"tmpfs")
    write(f"{target}/proof-{token}", "x")
    return sorted(os.listdir(target))
in_child("user namespace, then mount", userns_mount)
"""


def test_mounting_fails_or_stays_inside(sb, runtime, host):
    root = os.stat("/").st_dev
    out = attack(sb, MOUNT, token=TOKEN, root_device=[os.major(root), os.minor(root)])
    contained = {"user namespace, then mount", "mknod the host's disk"}
    for name in ("tmpfs", "proc", "bind /", "cgroup (release_agent)",
                 "remount the interpreter rw", "fsopen", "open_tree", "pivot_root", "chroot"):
        assert out[name] in DENIED, (name, out[name])
    assert out["open the host's disk"] != "ok"
    if runtime == "namespace":
        for name in contained:
            assert out[name] == "EPERM", (name, out[name])
    else:  # gVisor's own kernel may allow these; none of it is the host's
        for name in contained:
            assert out[name] in DENIED | {"ok"}, (name, out[name])
    assert host_mount_tables_mention(TOKEN) == []


KERNEL = r"""
null = os.open("/dev/null", os.O_RDONLY)
image = ctypes.create_string_buffer(b"\x7fELF" + b"\0" * 60)
attempt("init_module", lambda: syscall("init_module", image, 64, b""))
attempt("finit_module", lambda: syscall("finit_module", null, b"", 0))
attempt("delete_module", lambda: syscall("delete_module", b"ketch_escape_absent", os.O_NONBLOCK))
attempt("kexec_load", lambda: syscall("kexec_load", 0, 0, None, 0))
attempt("bpf", lambda: syscall("bpf", 0, ctypes.create_string_buffer(128), 128))
handle = ctypes.create_string_buffer(b"\x08\0\0\0\x01\0\0\0" + b"\0" * 8)
attempt("open_by_handle_at", lambda: check(libc.open_by_handle_at(null, handle, 0)))
if "iopl" in NR:
    attempt("iopl", lambda: syscall("iopl", 3))
"""


def test_the_kernel_cannot_be_changed(sb, host):
    out = attack(sb, KERNEL)
    assert out and all(v in DENIED for v in out.values()), out
    # (host.assert_intact: the host's modules are the same)


PTRACE = r"""
PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SEIZE = 16, 17, 0x4206
def ptrace(request, pid):
    return syscall("ptrace", request, pid, None, None)
sibling = subprocess.Popen(["sleep", "60"])
out["sibling"] = sibling.pid
def attach(pid):
    ptrace(PTRACE_ATTACH, pid)
    os.waitpid(pid, 0x40000000)  # __WALL: stopped, the tracer has it; then let it go
    ptrace(PTRACE_DETACH, pid)
    return True
attempt("attach a sibling", lambda: attach(sibling.pid))
attempt("seize a sibling", lambda: ptrace(PTRACE_SEIZE, sibling.pid) == 0)
attempt("attach pid 1", lambda: attach(1))
attempt("attach its parent", lambda: attach(os.getppid()))
attempt("attach the host's pid", lambda: attach(ARGS["host_pid"]))
attempt("process_vm_readv a sibling",
        lambda: syscall("process_vm_readv", sibling.pid, None, 0, None, 0, 0))
attempt("open /proc/1/mem", lambda: open("/proc/1/mem", "rb").close())
out["pids"] = pids()
out["sibling cmdline"] = read(f"/proc/{sibling.pid}/cmdline")
sibling.kill()
sibling.wait()
"""


def test_ptrace_is_refused(sb, runtime, host):
    out = attack(sb, PTRACE, host_pid=os.getpid())
    assert out["attach pid 1"] in DENIED and out["attach its parent"] in DENIED
    assert out["attach the host's pid"] in {"EPERM", "ESRCH"}
    assert out["open /proc/1/mem"] in DENIED
    siblings = ("attach a sibling", "seize a sibling", "process_vm_readv a sibling")
    if runtime == "namespace":  # the seccomp filter: no ptrace at all
        assert all(out[name] == "EPERM" for name in siblings), out
    else:
        # gVisor's kernel lets a process trace another of the same sandbox (same user, no
        # capability either way), and runsc from 2024 lets it read its memory too: contained,
        # it is a process of the sandbox's own.
        assert out["sibling"] in out["pids"] and out["sibling cmdline"] == "sleep\x0060\x00"


CLOCK_AND_NAMES = r"""
class Timespec(ctypes.Structure):
    _fields_ = [("seconds", ctypes.c_long), ("nanoseconds", ctypes.c_long)]
attempt("sethostname", lambda: check(libc.sethostname(b"ketch-escape", 12)))
attempt("setdomainname", lambda: check(libc.setdomainname(b"ketch-escape", 12)))
attempt("clock_settime", lambda: check(libc.clock_settime(0, ctypes.byref(
    Timespec(int(time.time()), 0)))))
attempt("settimeofday", lambda: check(libc.settimeofday(ctypes.byref(
    Timespec(int(time.time()), 0)), None)))
attempt("/proc/sys/kernel/hostname", lambda: write("/proc/sys/kernel/hostname", "ketch-escape"))
attempt("/proc/sys/kernel/core_pattern", lambda: write("/proc/sys/kernel/core_pattern",
                                                       "|/tmp/ketch-escape"))
attempt("/proc/sysrq-trigger", lambda: write("/proc/sysrq-trigger", "h"))
def userns_hostname():
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWUTS))
    check(libc.sethostname(b"ketch-escape", 12))
    return os.uname().nodename
in_child("user namespace, then sethostname", userns_hostname)
out["hostname after"] = os.uname().nodename
"""


def test_the_hosts_name_and_clock_stay(sb, runtime, host):
    before = os.uname().nodename
    own_name = sb.exec("hostname").stdout.read().strip()
    out = attack(sb, CLOCK_AND_NAMES)
    for name in ("sethostname", "setdomainname", "clock_settime", "settimeofday"):
        assert out[name] in DENIED, (name, out[name])
    for name in ("/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern",
                 "/proc/sysrq-trigger"):  # gVisor's own /proc may answer EIO
        assert out[name] in DENIED | {"EROFS", "ENOENT", "EIO"}, (name, out[name])
    userns = out["user namespace, then sethostname"]
    if runtime == "namespace":  # no new namespaces (the seccomp filter)
        assert userns == "EPERM"
    else:  # gVisor may let it name a UTS namespace of its own kernel's, and only that
        assert userns in DENIED | {"ok"}
    assert out["hostname after"] == own_name
    assert os.uname().nodename == before  # and the clock: host.assert_intact


PROC_EXE = r"""
attempt("/proc/self/exe for writing", lambda: open("/proc/self/exe", "r+b").close())
attempt("/proc/1/exe for writing", lambda: open("/proc/1/exe", "r+b").close())
attempt("parent's exe for writing", lambda: open(f"/proc/{os.getppid()}/exe", "r+b").close())
attempt("/proc/1/exe by O_PATH",
        lambda: open(f"/proc/self/fd/{os.open('/proc/1/exe', os.O_PATH)}", "r+b").close())
attempt("the canary by /proc/1/root", lambda: read("/proc/1/root" + ARGS["canary"]))
import sysconfig
lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "/", sysconfig.get_config_var("LDLIBRARY") or "")
if os.path.isfile(lib):
    attempt("libpython for writing", lambda: open(lib, "r+b").close())
"""


def test_proc_exe_and_root_lead_nowhere(sb, host):
    out = attack(sb, PROC_EXE, canary=str(host.canary))
    assert out and "ok" not in out.values(), out
    assert all(v in DENIED | {"ETXTBSY", "EROFS", "ENOENT"} for v in out.values()), out
    # (host.assert_intact: the host's interpreter and libpython are unchanged)


SETUID = r"""
token = ARGS["token"]
def caps(status):
    return {line.split(":")[0]: line.split()[1] for line in status.splitlines()
            if line.startswith(("CapEff", "CapPrm"))}
copy = f"/tmp/cat-{token}"
shutil.copy("/bin/cat", copy)
os.chmod(copy, 0o4755)
out["own"] = caps(read("/proc/self/status"))
out["setuid copy"] = caps(subprocess.run([copy, "/proc/self/status"], capture_output=True,
                                         text=True).stdout)
vfs_cap = bytes.fromhex("01000002" + "00002000" + "00000000" + "00000000" * 2)  # SYS_ADMIN
attempt("file capability", lambda: os.setxattr(copy, "security.capability", vfs_cap))
for tool, argv in (("su", ["su", "-c", "cat /proc/self/status"]),
                   ("sudo", ["sudo", "-n", "cat", "/proc/self/status"]),
                   ("setcap", ["setcap", "cap_sys_admin+ep", copy])):
    if shutil.which(tool):
        done = subprocess.run(argv, capture_output=True, text=True)
        out[tool] = {"returncode": done.returncode, "caps": caps(done.stdout)}
"""


def test_setuid_and_file_capabilities_give_nothing(sb, host):
    out = attack(sb, SETUID, token=TOKEN)
    nothing = {"CapEff": "0000000000000000", "CapPrm": "0000000000000000"}
    assert out["own"] == nothing and out["setuid copy"] == nothing, out
    assert out["file capability"] in DENIED
    for tool in ("su", "sudo"):
        if tool in out:
            assert out[tool]["returncode"] != 0 or out[tool]["caps"] == nothing, out[tool]
    if "setcap" in out:
        assert out["setcap"]["returncode"] != 0


RAW_SOCKETS = r"""
AF_INET, AF_INET6, AF_PACKET = socket.AF_INET, socket.AF_INET6, 17
FLAGS = socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
for name, family, kind, proto in (
        ("AF_INET SOCK_RAW icmp", AF_INET, socket.SOCK_RAW, 1),
        ("AF_INET SOCK_RAW IPPROTO_RAW", AF_INET, socket.SOCK_RAW, 255),
        ("AF_INET SOCK_RAW|flags", AF_INET, socket.SOCK_RAW | FLAGS, 1),
        ("AF_INET6 SOCK_RAW", AF_INET6, socket.SOCK_RAW, 58),
        ("AF_PACKET SOCK_RAW", AF_PACKET, socket.SOCK_RAW, 0x0300),
        ("AF_PACKET SOCK_DGRAM", AF_PACKET, socket.SOCK_DGRAM, 0x0300),
        ("AF_PACKET SOCK_RAW|flags", AF_PACKET, socket.SOCK_RAW | FLAGS, 0x0300)):
    attempt(name, lambda: socket.socket(family, kind, proto).close())
"""


def test_raw_sockets_are_refused(sb, host):
    out = attack(sb, RAW_SOCKETS)
    assert len(out) == 7 and all(v in DENIED | {"EAFNOSUPPORT"} for v in out.values()), out


def test_the_supervisor_cannot_be_tampered_with(app, runtime):
    """Its memory and its channel to the worker are out of the sandbox's code's reach."""
    sb = ketch.Sandbox.create(app=app, runtime=runtime)
    try:
        probe = (
            "import json, os\n"
            "found = {}\n"
            "for pid in [p for p in os.listdir('/proc') if p.isdigit() and p != str(os.getpid())]:\n"
            "    try:\n"
            "        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
            "    except OSError:\n"
            "        continue\n"
            "    if b'Frames between a worker' not in cmd:\n"
            "        continue\n"
            "    for path in (f'/proc/{pid}/mem', f'/proc/{pid}/fd/0', f'/proc/{pid}/fd/1'):\n"
            "        try:\n"
            "            os.close(os.open(path, os.O_RDWR))\n"
            "            found[path] = 'opened'\n"
            "        except OSError as exc:\n"
            "            found[path] = exc.errno\n"
            "print(json.dumps(found))\n")
        found = json.loads(sb.exec("python", "-c", probe).stdout.read())
        assert found, "the supervisor was not found"
        assert all(found[path] != "opened" for path in found if path.endswith("/mem")), found
        if runtime == "namespace":
            assert "opened" not in found.values(), found
        # gVisor (runsc 2022-12) lets the same user open another process's /proc/<pid>/fd/N
        # even when it is not dumpable: the code can then write frames as its supervisor
        # would, which the worker parses as hostile anyway, and which stay in its sandbox.
    finally:
        sb.terminate()


def test_the_launchers_configuration_is_out_of_sight(sb, runtime):
    """pid 1's command line and environment say nothing of the host's paths."""
    code = ("import json\nout = {}\nfor name in ('cmdline', 'environ'):\n"
            "    try:\n        out[name] = open(f'/proc/1/{name}', 'rb').read().decode(errors='replace')\n"
            "    except OSError as exc:\n        out[name] = exc.errno\nprint(json.dumps(out))\n")
    out = json.loads(sb.exec("python", "-c", code).stdout.read())
    for name, seen in out.items():
        home = str(config.home())
        assert not isinstance(seen, str) or not any(
            secret in seen for secret in (home, home.encode().hex(), "KETCH_LAUNCH")), name
