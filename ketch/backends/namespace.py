"""The ``namespace`` runtime: each container in its own mount, pid, ipc and uts namespaces,
on an overlay root (image layers over the host, a scratch upper layer removed afterwards), in
its own cgroup with its CPU, memory and pids limits.

The launcher (`nsinit.py`) runs under ``python -S`` and imports only the standard library.
Where it can, the driver forks containers from a zygote instead (`ketch.backends.zygotes`),
which has done the interpreter's start and the imports already; a container that cannot be
forked starts through the launcher.

A sandbox (``spec.sandbox``) always starts through the launcher, which hardens it (see
`nsinit.py` and `seccomp.py`), on what `ketch.backends.sandboxing` prepared for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import marshal
import os
import platform
import secrets
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

from ..protocol import zygote as zygote_wire
from ..protocol.message import encode
from ..protocol.worker import ContainerExit, ContainerSpec
from ..worker.cgroups import Cgroup, Limits, available
from .base import Capabilities, Driver, TaskHandle, TaskStats, no_checkpoints
from .process import describe_exit
from .rootfs import root_overlays, whiteout
from .sandboxing import SandboxSetup, describe_pids_limit, sandbox_env, sandbox_limits
from .zygote_pool import ZygotePool
from .zygotes import Recipe, ZygoteError

NSINIT = str(Path(__file__).with_name("nsinit.py"))
INSIDE_RUN_DIR = "/run/ketch"
# Set per container, never in a zygote: who it is, where its files are, which GPUs it has.
PER_CONTAINER_ENV = frozenset({"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES"})


class NamespaceDriver(Driver):
    name = "namespace"

    def __init__(self, scratch_root: Path, masks: list[str], zygotes: bool = True) -> None:
        self.scratch_root = scratch_root
        self.masks = masks
        self.zygotes = ZygotePool() if zygotes else None

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
        if spec.sandbox is not None:
            return await self._start_sandbox(spec, command, env, devices)
        scratch = self.scratch_root / spec.container_id
        os.makedirs(scratch)
        for part in ("upper", "work", "root", "run"):
            os.mkdir(scratch / part)
        whiteout(scratch / "upper", (spec.image or {}).get("whiteouts", []))
        env, config = self._container(spec, env, devices, scratch)
        state = {"scratch": scratch, "board": str(scratch / "run" / "board")}
        notes = []
        # a zygote's mount namespace was copied before the worker mounted the buckets
        if self.zygotes is not None and not (spec.image or {}).get("entrypoint") \
                and not spec.buckets:
            try:
                return await self._fork(spec, command, env, config, state)
            except ZygoteError as exc:
                if spec.snapshot is not None:
                    notes.append(f"ketch: started without its memory snapshot: {exc}")
        cgroup = Cgroup.create(spec.container_id, limits_of(spec))
        config["cgroup_procs"] = cgroup.procs_files
        launched = await asyncio.create_subprocess_exec(
            sys.executable, "-S", NSINIT, marshal.dumps(config).hex(), *command,
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, start_new_session=True, limit=1 << 22,
        )
        return TaskHandle(spec.container_id, launched.pid, launched.stdout, launched.stderr,
                          {**state, "proc": launched, "cgroup": cgroup}, notes=notes)

    async def _start_sandbox(self, spec: ContainerSpec, command: list[str], env: dict[str, str],
                             devices: list[str]) -> TaskHandle:
        """A sandbox: never forked from a zygote; the launcher hardens it (``sandbox``), and
        its stdin is a pipe, its channel to its supervisor."""
        if spec.checkpoint:
            raise no_checkpoints(self.name)
        image_python = (spec.image or {}).get("python")
        pythons = [command[0], *([image_python] if image_python else [])]
        setup = await SandboxSetup.prepare(spec, self.scratch_root / spec.container_id,
                                           pythons, masks=self.masks)
        config = {**setup.launcher_config(), "sandbox": True, "devices": devices}
        try:
            launched = await asyncio.create_subprocess_exec(  # its config out of its sight
                sys.executable, "-S", NSINIT, "-", *command,
                env={**sandbox_env(env), "KETCH_LAUNCH": marshal.dumps(config).hex()},
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True, limit=1 << 22,
            )
        except BaseException:
            await setup.release()
            raise
        state = {"proc": launched, "cgroup": setup.cgroup, "scratch": setup.scratch}
        return TaskHandle(spec.container_id, launched.pid, launched.stdout, launched.stderr,
                          state, stdin=launched.stdin, sandbox=setup)

    def _container(self, spec: ContainerSpec, env: dict[str, str], devices: list[str],
                   scratch: Path) -> tuple[dict[str, str], dict[str, Any]]:
        """The container's environment and its launcher config (less its cgroup)."""
        env = dict(env)
        binds = [[str(scratch / "run"), INSIDE_RUN_DIR, False]]
        if env.get("KETCH_BOARD"):
            shutil.move(env["KETCH_BOARD"], scratch / "run" / "board")
            env["KETCH_BOARD"] = f"{INSIDE_RUN_DIR}/board"
        server = env.get("KETCH_SERVER", "")
        if server.startswith("unix:"):
            binds.append([os.path.dirname(server[5:]), os.path.dirname(server[5:]), True])
        image = spec.image or {}
        return env, {
            "net": False,
            "hostname": spec.container_id,
            "root": str(scratch / "root"),
            "overlays": root_overlays(image.get("layers", []), scratch,
                                      bool(image.get("rooted"))) + [
                [[v["lower"]], v["upper"], v["work"], str(scratch / "root") + v["mount"]]
                for v in spec.volumes
            ],
            "masks": self.masks + [str(self.scratch_root)],
            "binds": binds + image_binds(image) + list(spec.binds)
            + [bind for v in spec.volumes for bind in v["binds"]],
            "devices": devices,
            "workdir": image.get("workdir") or ("/" if image.get("rooted") else os.getcwd()),
        }

    async def _fork(self, spec: ContainerSpec, command: list[str], env: dict[str, str],
                    config: dict[str, Any], state: dict[str, Any]) -> TaskHandle:
        """The container, forked from the zygote of its recipe: the container's environment
        less what is its own (with a snapshot, its secrets stay: the module may read them)."""
        assert self.zygotes is not None
        own = set(PER_CONTAINER_ENV) | (set() if spec.snapshot else set(spec.env))
        zygote_env = {k: v for k, v in env.items() if k not in own and not k.startswith("KETCH_")}
        image = spec.image or {}
        identity = [command, sorted(zygote_env.items()), config["workdir"],
                    image.get("layers", []), image_binds(image), snapshot_identity(spec), spec.web]
        key = hashlib.sha256(encode(identity)).hexdigest()[:32]
        forked = await self.zygotes.fork(
            key, lambda: self._recipe(key, command[0], zygote_env, spec, config["workdir"]),
            config, env, spec.container_id, limits_of(spec))
        return TaskHandle(spec.container_id, forked.process.pid, forked.stdout, forked.stderr,
                          {**state, "proc": forked.process, "cgroup": forked.cgroup},
                          forked=True)

    def _recipe(self, key: str, python: str, env: dict[str, str], spec: ContainerSpec,
                workdir: str) -> Recipe:
        """How to start the zygote for ``key``: the launcher in zygote mode, on the image."""
        image = spec.image or {}
        scratch = self.scratch_root / f"zygote-{key[:12]}-{secrets.token_hex(3)}"
        launch = {
            "zygote": True,
            "root": str(scratch / "root"),
            "overlays": root_overlays(image.get("layers", []), scratch,
                                      bool(image.get("rooted"))),
            "masks": self.masks + [str(self.scratch_root)],
            "binds": image_binds(image),
            "devices": [],
            "workdir": workdir,
        }
        return Recipe(
            key=key,
            command=[sys.executable, "-S", NSINIT, marshal.dumps(launch).hex(), python,
                     "-m", "ketch.container.zygote"],
            env=env,
            prepare=zygote_wire.prepare(spec.snapshot,
                                        zygote_wire.WEB_PRELOAD if spec.web else ()),
            scratch=scratch,
        )

    async def close(self) -> None:
        if self.zygotes is not None:
            await self.zygotes.close()

    async def wait_task(self, handle: TaskHandle) -> ContainerExit:
        return await ended(handle)

    def signal_task(self, handle: TaskHandle, signum: int) -> None:
        if signum == signal.SIGKILL:
            handle.state["cgroup"].kill(signum)  # everything, inside too
        try:
            os.kill(handle.pid, signum)
        except ProcessLookupError:
            pass

    def adopt_task(self, handle: TaskHandle, spec: ContainerSpec) -> None:
        assert handle.sandbox is not None
        handle.sandbox.adopt(spec, sandbox_limits(spec))

    def task_stats(self, handle: TaskHandle) -> TaskStats | None:
        usage = handle.state["cgroup"].usage(peak=False)
        return TaskStats(usage.cpu_s, usage.memory_bytes)

    async def destroy_task(self, handle: TaskHandle) -> None:
        if handle.sandbox is not None:
            await handle.sandbox.release()
            return
        handle.state["cgroup"].remove()
        await asyncio.to_thread(shutil.rmtree, handle.state["scratch"], True)


async def ended(handle: TaskHandle) -> ContainerExit:
    """How a task whose process is ``state["proc"]`` and whose cgroup is ``state["cgroup"]``
    ended, out of memory and past a sandbox's pids limit said so (the gvisor runtime's too)."""
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
    setup = handle.sandbox
    if setup is not None and setup.pids_exhausted():
        return ContainerExit(exit_.exit_code, exit_.signal,
                             f"{exit_.reason}; {describe_pids_limit(setup.spec)}")
    return exit_


def snapshot_identity(spec: ContainerSpec) -> str | None:
    """What a snapshot zygote depends on: the definition, the parameters, and the module's
    files as they are now (their sizes and times), so that an edit makes a new zygote."""
    if spec.snapshot is None:
        return None
    digest = hashlib.sha256(encode(spec.snapshot))
    module_file = spec.snapshot.definition.module_file
    if module_file and os.path.isdir(os.path.dirname(module_file)):
        folder = os.path.dirname(module_file)
        for name in sorted(os.listdir(folder)):
            if name.endswith(".py"):
                stat = os.stat(os.path.join(folder, name))
                digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return digest.hexdigest()


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


def _pair(value: float | list[float] | list[int] | None, default: float | None) -> tuple:  # type: ignore[type-arg]
    if value is None:
        return default, default
    if isinstance(value, (list, tuple)):
        return value[0], value[1]
    return value, value


def image_binds(image: dict[str, Any]) -> list[list[Any]]:
    """The image's binds, and the function's module folder where the host is not beneath the
    image to show it (a registry image's ``module_root``)."""
    binds = list(image.get("binds", []))
    if image.get("module_root"):
        binds.append([image["module_root"], image["module_root"], True])
    return binds
