"""The ``gvisor`` runtime: a sandbox under gVisor's ``runsc``, whose user-space kernel (the
sentry) stands between the sandbox's code and the host's kernel.

The host prepares the sandbox as for the namespace runtime (`ketch.backends.sandboxing`: its
disk, a root that hides the host's data, its cgroup, its network). The launcher (`nsinit.py`,
``"gvisor"`` in its CONFIG) then joins the cgroup, mounts the root in a mount namespace of its
own and becomes ``runsc run`` on an OCI bundle written here, whose sentry joins the sandbox's
network namespace (gVisor's own network stack on its veth) or, with ``block_network``, has
loopback only. runsc's processes (the sentry, the gofer that serves it the root, the ptrace
stubs) all stay in that cgroup, so its memory, CPU and pids limits hold for gVisor itself;
runsc is told no cgroup of its own. The sandbox's stdin and stdout are runsc's own: no
terminal, no copying. Signals but SIGKILL go through ``runsc kill`` (``runsc run`` does not
forward them: it dies, and the sandbox with it).

Limits of runsc 20221219 (Debian 12's own), which the 2024 runsc of bookworm-backports
lifts: ``statx`` with ``AT_NO_AUTOMOUNT`` fails with EINVAL, so coreutils' ``ls`` and ``stat``
print "Invalid argument" (Python's ``os.stat`` and ``os.listdir`` work). The kvm platform
hangs in a VM either way.

Example::

    driver = GvisorDriver(config.home() / "containers", masks=[str(config.home())])
    handle = await driver.start_task(spec, [python, "-S", "-c", code], env, [])
    handle.stdin.write(b"...")            # the sandbox's stdin
    await driver.wait_task(handle)        # how it ended (the OOM of its cgroup, say)
    await driver.destroy_task(handle)     # runsc's state, its processes, the sandbox's disk
"""

from __future__ import annotations

import asyncio
import json
import marshal
import os
import platform
import shutil
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import exception
from ..protocol.worker import ContainerExit, ContainerSpec
from ..worker.cgroups import available
from .base import Capabilities, Driver, TaskHandle, TaskStats
from .gvisor_checkpoint import checkpoint, restore_action, restore_files
from .namespace import NSINIT, ended
from .sandboxing import SandboxSetup, sandbox_env, sandbox_limits

# Flags for every runsc command of a sandbox, after --root: the ptrace platform (kvm needs
# /dev/kvm and hangs under nested virtualisation), no cgroups of runsc's making (the launcher
# put it in the sandbox's; ~10 ms faster too), and no overlay of runsc's over the root (newer
# runsc keep writes in their own memory by default: out of the sandbox's disk and snapshots).
RUNSC_FLAGS = ("--platform=ptrace", "--ignore-cgroups", "--overlay2=none")
# What gVisor's sentry makes itself, in memory: /proc, /sys and /dev. This runsc's /dev takes
# no size, and read-only it would refuse /dev/null to writers: only a memory limit bounds it.
# /tmp and /dev/shm are binds of folders on the sandbox's disk instead (gVisor would make
# tmpfs mounts of them, in memory, with no size), as on the namespace runtime: one
# ``disk_mib`` for all it writes there, and /tmp in a snapshot of its filesystem.
SENTRY_MOUNTS = [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
]
SENTRY_PATHS = ("/proc", "/dev", "/sys")
RUNSC_TIMEOUT_S = 10.0
# gVisor counts the sandbox's processes and threads against its RLIMIT_NPROC (``pids``) and
# fails a fork or clone past it with EAGAIN, as Linux does. The host's count is another: gVisor's
# own threads (~30), and per process inside a ptrace stub process and its threads (~5 on 2
# cores, more with more cores); past the cgroup's pids.max the sentry dies, and the sandbox.
HOST_PIDS_BASE = 256
HOST_PIDS_PER_PROCESS = 8


class GvisorDriver(Driver):
    name = "gvisor"

    def __init__(self, scratch_root: Path, masks: list[str], runsc: str = "runsc") -> None:
        self.scratch_root = scratch_root
        self.masks = masks
        self.runsc = runsc

    def capabilities(self) -> Capabilities:
        return Capabilities(isolation="gvisor", enforces_resources=True, supports_gpus=False,
                            checkpoints=True)

    def fingerprint(self) -> str | None:
        if platform.system() != "Linux":
            return "gVisor needs Linux"
        if shutil.which(self.runsc) is None:
            return "runsc (gVisor) is not installed; install it with `apt-get install runsc`"
        if os.geteuid() != 0:
            return "the gvisor runtime needs root; run ketch as root"
        problem = available()
        return None if problem is None else f"no cgroups for its limits: {problem}"

    async def start_task(
        self, spec: ContainerSpec, command: list[str], env: dict[str, str], devices: list[str]
    ) -> TaskHandle:
        if spec.sandbox is None:
            raise exception.InvalidError(
                f"the gvisor runtime runs sandboxes only, not {spec.function_name!r}; "
                "functions run on the namespace or process runtime"
            )
        if devices or spec.gpu:
            raise exception.InvalidError(
                "a gVisor sandbox cannot use GPUs; leave gpu unset, or run it on the "
                "namespace runtime (runtime='namespace')"
            )
        image_python = (spec.image or {}).get("python")
        pythons = [command[0], *([image_python] if image_python else [])]
        setup = await SandboxSetup.prepare(spec, self.scratch_root / spec.container_id,
                                           pythons, masks=self.masks)
        try:
            setup.cgroup.limit(replace(sandbox_limits(spec), pids=host_pids(spec.sandbox.pids)))
            launch = launcher_config(setup)
            bundle = setup.scratch / "bundle"
            bundle.mkdir()
            netns = setup.network.path if setup.network is not None else None
            (bundle / "config.json").write_text(json.dumps(
                oci_spec(spec, command, sandbox_env(env), launch, netns,
                         str(setup.disk / "shm"))))
            action = ["run", "--bundle", str(bundle), spec.container_id]
            if spec.checkpoint:
                await restore_files(Path(spec.checkpoint), setup)
                action = restore_action(Path(spec.checkpoint), bundle, spec.container_id)
            runsc = [*self._runsc_command(setup.scratch),
                     "--network=none" if netns is None else "--network=sandbox", *action]
            launched = await asyncio.create_subprocess_exec(
                sys.executable, "-S", NSINIT, marshal.dumps(launch).hex(), *runsc,
                env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, start_new_session=True, limit=1 << 22,
            )
        except BaseException:
            await setup.release()
            raise
        state = {"proc": launched, "cgroup": setup.cgroup, "scratch": setup.scratch,
                 "runsc_id": spec.container_id}
        return TaskHandle(spec.container_id, launched.pid, launched.stdout, launched.stderr,
                          state, stdin=launched.stdin, sandbox=setup)

    async def wait_task(self, handle: TaskHandle) -> ContainerExit:
        exit_ = await ended(handle)
        code = exit_.exit_code
        if code is not None and 128 < code < 128 + 65 and exit_.reason.startswith(
                "the container exited"):  # runsc says "killed by N" as 128 + N, as a shell
            try:
                name = signal.Signals(code - 128).name
            except ValueError:
                name = f"signal {code - 128}"
            return ContainerExit(code, None, f"{exit_.reason} (killed by {name}, or exited so)")
        return exit_

    async def stop_task(self, handle: TaskHandle, grace_s: float) -> None:
        """SIGTERM to the sandbox's first process, and SIGKILL to all after ``grace_s``."""
        proc: asyncio.subprocess.Process = handle.state["proc"]
        if proc.returncode is not None:
            return
        await self._runsc(handle, "kill", handle.state["runsc_id"], str(int(signal.SIGTERM)))
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            self.signal_task(handle, signal.SIGKILL)
            await proc.wait()

    def signal_task(self, handle: TaskHandle, signum: int) -> None:
        """SIGKILL goes to every process of the cgroup, gVisor's own included; another
        signal to the sandbox's first process, through ``runsc kill`` (runsc itself would
        die of it, taking the sandbox with it)."""
        if signum != signal.SIGKILL:
            command = self._runsc_command(handle.state["scratch"], "kill",
                                          handle.state["runsc_id"], str(int(signum)))
            killer = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            handle.state.setdefault("killers", []).append(killer)
            return
        handle.state["cgroup"].kill(signum)
        try:
            os.kill(handle.pid, signum)
        except ProcessLookupError:
            pass

    def adopt_task(self, handle: TaskHandle, spec: ContainerSpec) -> None:
        assert spec.sandbox is not None and handle.sandbox is not None
        handle.sandbox.adopt(
            spec, replace(sandbox_limits(spec), pids=host_pids(spec.sandbox.pids)))

    def task_stats(self, handle: TaskHandle) -> TaskStats | None:
        usage = handle.state["cgroup"].usage(peak=False)
        return TaskStats(usage.cpu_s, usage.memory_bytes)

    async def checkpoint_task(self, handle: TaskHandle, folder: Path) -> None:
        """The sandbox's memory and files in ``folder`` (`gvisor_checkpoint`)."""
        assert handle.sandbox is not None
        await checkpoint(lambda *args: self._runsc_command(handle.state["scratch"], *args),
                         handle.state["runsc_id"], handle.sandbox, folder)

    async def destroy_task(self, handle: TaskHandle) -> None:
        """runsc's own cleanup, then everything left in the cgroup killed, then the network,
        the cgroup, the disk and the scratch folder (runsc's state in it) removed."""
        setup = handle.sandbox
        assert setup is not None
        state = setup.scratch / "runsc-state"
        if state.is_dir() and any(state.iterdir()):  # `runsc run` cleans up after an exit
            await self._runsc(handle, "delete", "--force", handle.state["runsc_id"])
        self.signal_task(handle, signal.SIGKILL)
        for killer in handle.state.get("killers", []):  # `runsc kill`s: moot by now
            if killer.poll() is None:
                killer.kill()
                await asyncio.to_thread(killer.wait)
        await setup.release()

    def _runsc_command(self, scratch: Path, *args: str) -> list[str]:
        state = scratch / "runsc-state"
        return [shutil.which(self.runsc) or self.runsc, f"--root={state}", *RUNSC_FLAGS, *args]

    async def _runsc(self, handle: TaskHandle, *args: str) -> None:
        """A runsc command on the sandbox, its failure ignored (the sandbox may be gone)."""
        try:
            process = await asyncio.create_subprocess_exec(
                *self._runsc_command(handle.state["scratch"], *args),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
        except OSError:
            return
        try:
            await asyncio.wait_for(process.wait(), RUNSC_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()


def launcher_config(setup: SandboxSetup) -> dict[str, Any]:
    """The launcher's CONFIG: the setup's root, less binds into what gVisor makes itself
    (/dev/shm is a mount of the OCI spec's), and ``gvisor`` rather than a network namespace
    of the launcher's making."""
    config = setup.launcher_config()
    config["binds"] = [bind for bind in config["binds"] if not _under(bind[1], SENTRY_PATHS)]
    config["net"] = False
    config["gvisor"] = True
    return config


def oci_spec(spec: ContainerSpec, command: list[str], env: dict[str, str],
             launch: dict[str, Any], netns: str | None, shm: str) -> dict[str, Any]:
    """The OCI runtime spec (``config.json``) of a sandbox: ``command`` as the launcher's
    ``user`` (`ketch.backends.sandboxing.SANDBOX_USER`, not root) without capabilities or a
    way to gain any, on the root the launcher mounted (writable: writes
    land in the sandbox's disk, as do those to /tmp and to /dev/shm, the folder ``shm``), in
    new pid, ipc, uts and mount namespaces, and in ``netns`` (else a network namespace of
    gVisor's own, with loopback only)."""
    assert spec.sandbox is not None
    network: dict[str, str] = {"type": "network"}
    if netns is not None:
        network["path"] = netns
    no_caps: dict[str, list[str]] = {
        name: [] for name in ("bounding", "effective", "inheritable", "permitted", "ambient")
    }
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": launch["user"][0], "gid": launch["user"][1]},
            "args": command,
            "env": [f"{key}={value}" for key, value in env.items()],
            "cwd": launch.get("workdir") or "/",
            "capabilities": no_caps,
            "noNewPrivileges": True,
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 65536},
                {"type": "RLIMIT_NPROC", "soft": spec.sandbox.pids, "hard": spec.sandbox.pids},
            ],
        },
        "root": {"path": launch["root"], "readonly": False},
        "hostname": spec.container_id,
        "mounts": [*SENTRY_MOUNTS, _bind(os.path.join(launch["root"], "tmp"), "/tmp"),
                   _bind(shm, "/dev/shm", "nosuid", "nodev")],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
                           {"type": "mount"}, network],
        },
    }


def host_pids(pids: int) -> int:
    """The host's pids limit for a gVisor sandbox of ``pids`` processes and threads."""
    return HOST_PIDS_BASE + HOST_PIDS_PER_PROCESS * pids


def _bind(source: str, destination: str, *options: str) -> dict[str, Any]:
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "rw", *options]}


def _under(path: str, folders: tuple[str, ...]) -> bool:
    return any(path == folder or path.startswith(folder + "/") for folder in folders)
