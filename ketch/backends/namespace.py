"""The ``namespace`` runtime: each container in its own mount, pid, ipc and uts namespaces,
on an overlay root (image layers over the host, a scratch upper layer removed afterwards), in
its own cgroup with its CPU, memory and pids limits.

The launcher (`nsinit.py`) runs under ``python -S`` and imports only the standard library.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import platform
import shutil
import signal
import sys
from pathlib import Path

from ..protocol.worker import ContainerExit, ContainerSpec
from ..worker.cgroups import Cgroup, Limits, available
from .base import Capabilities, Driver, TaskHandle, TaskStats
from .process import describe_exit
from .rootfs import root_overlays

NSINIT = str(Path(__file__).with_name("nsinit.py"))
INSIDE_RUN_DIR = "/run/ketch"


class NamespaceDriver(Driver):
    name = "namespace"

    def __init__(self, scratch_root: Path, masks: list[str]) -> None:
        self.scratch_root = scratch_root
        self.masks = masks

    def capabilities(self) -> Capabilities:
        return Capabilities(isolation="namespaces", enforces_resources=True, supports_gpus=True)

    def fingerprint(self) -> str | None:
        if platform.system() != "Linux":
            return "namespaces need Linux"
        if os.geteuid() != 0:
            return "the namespace runtime needs root; run ketch as root or use runtime='process'"
        return available()

    async def start_task(
        self, spec: ContainerSpec, command: list[str], env: dict[str, str], devices: list[str]
    ) -> TaskHandle:
        scratch = self.scratch_root / spec.container_id
        for part in ("upper", "work", "root", "run"):
            (scratch / part).mkdir(parents=True)
        cgroup = Cgroup.create(spec.container_id, limits_of(spec))
        env = dict(env)
        binds = [[str(scratch / "run"), INSIDE_RUN_DIR, False]]
        if env.get("KETCH_BOARD"):
            shutil.move(env["KETCH_BOARD"], scratch / "run" / "board")
            env["KETCH_BOARD"] = f"{INSIDE_RUN_DIR}/board"
        server = env.get("KETCH_SERVER", "")
        if server.startswith("unix:"):
            binds.append([os.path.dirname(server[5:]), os.path.dirname(server[5:]), True])
        image = spec.image or {}
        config = {
            "cgroup_procs": cgroup.procs_files,
            "net": False,
            "hostname": spec.container_id,
            "root": str(scratch / "root"),
            "overlays": root_overlays(image.get("layers", []), scratch) + [
                [[v["lower"]], v["upper"], v["work"], str(scratch / "root") + v["mount"]]
                for v in spec.volumes
            ],
            "masks": self.masks + [str(self.scratch_root)],
            "binds": binds + list(image.get("binds", []))
            + [bind for v in spec.volumes for bind in v["binds"]],
            "devices": devices,
            "workdir": image.get("workdir") or os.getcwd(),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-S", NSINIT, marshal.dumps(config).hex(), *command,
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, limit=1 << 22,
        )
        state = {"proc": proc, "cgroup": cgroup, "scratch": scratch,
                 "board": str(scratch / "run" / "board")}
        return TaskHandle(spec.container_id, proc.pid, proc.stdout, proc.stderr, state)

    async def wait_task(self, handle: TaskHandle) -> ContainerExit:
        returncode = await handle.state["proc"].wait()
        exit_ = describe_exit(returncode)
        cgroup: Cgroup = handle.state["cgroup"]
        try:
            oom = cgroup.oom_killed()
        except OSError:
            oom = False
        if oom:
            peak = cgroup.usage().peak_bytes / 2**20
            return ContainerExit(
                exit_.exit_code, exit_.signal,
                f"the container ran out of memory at {peak:.0f} MiB (its memory limit) and was "
                "killed; ask for more with memory=...",
            )
        return exit_

    def signal_task(self, handle: TaskHandle, signum: int) -> None:
        if signum == signal.SIGKILL:
            for path in handle.state["cgroup"].procs_files:  # everything, inside too
                for pid in Path(path).read_text().split():
                    try:
                        os.kill(int(pid), signum)
                    except ProcessLookupError:
                        pass
        try:
            os.kill(handle.pid, signum)
        except ProcessLookupError:
            pass

    def task_stats(self, handle: TaskHandle) -> TaskStats | None:
        usage = handle.state["cgroup"].usage()
        return TaskStats(usage.cpu_s, usage.memory_bytes)

    async def destroy_task(self, handle: TaskHandle) -> None:
        handle.state["cgroup"].remove()
        await asyncio.to_thread(shutil.rmtree, handle.state["scratch"], True)


def limits_of(spec: ContainerSpec) -> Limits:
    """As Modal: ``cpu=N`` is a request (a share of the CPU under contention, no ceiling);
    ``cpu=(request, limit)`` also caps it. ``memory`` is a ceiling either way."""
    request, limit = _pair(spec.cpu, 0.125)
    _, memory_limit = _pair(spec.memory_mb, None)
    return Limits(
        cpu_request=float(request),
        cpu_limit=float(limit) if isinstance(spec.cpu, (list, tuple)) else None,
        memory_mib=int(memory_limit) if memory_limit is not None else None,
    )


def _pair(value: float | list[float] | None, default: float | None) -> tuple:  # type: ignore[type-arg]
    if value is None:
        return default, default
    if isinstance(value, (list, tuple)):
        return value[0], value[1]
    return value, value
