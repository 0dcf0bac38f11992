"""`LocalWorker` runs containers on this machine through a runtime driver.

It starts the container agent (``python -m ketch.container``) with the control plane's address
and the container's token, forwards every line the container prints to the control plane, and
reports how each container ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import config, exception
from ..backends import Driver, TaskHandle, default_runtime, get_driver
from ..protocol import board
from ..protocol.worker import ContainerExit, ContainerSpec, NodeUsage, WorkerEvents
from .buckets import BucketMounts
from .gpus import Gpu, device_nodes, visible_devices
from .images import Builder
from .images.snapshot import snapshot_layer
from .images.steps import ROOTED_PATH
from .metering import UsageMeter
from .output import forward
from .resources import Capacity, Request
from .sandboxes import SupervisorChannel, sandbox_command, sandbox_env
from .spares import SandboxSpares

if TYPE_CHECKING:
    from ..backends.sandboxing import SandboxSetup


def request_of(spec: ContainerSpec) -> Request:
    return Request.of(spec.cpu, spec.memory_mb, spec.gpu)

# Settings of the shell that started ketch that must not reach containers: without bytecode
# caches every container would compile ketch and the user's modules from source again.
HOST_ONLY_ENV = frozenset({"PYTHONDONTWRITEBYTECODE"})
# Where a deployed version's own copy of its module is put in a container with a root of its
# own: Modal's place for an app's module, beside the files its image adds there.
MODULE_DIR = "/root"


def container_base_env(image: dict[str, Any] | None) -> dict[str, str]:
    """The environment a container starts from: this process's, less what is the host's
    alone; in an image with a root of its own, only ketch's settings (the host's paths and
    tools mean nothing there) and a home."""
    if image and image.get("rooted"):
        base = {"HOME": "/root", "PATH": ROOTED_PATH}
        return {**base, **{k: v for k, v in os.environ.items() if k.startswith("KETCH_")}}
    return {k: v for k, v in os.environ.items() if k not in HOST_ONLY_ENV}


class LocalWorker:
    """The worker of the machine the control plane runs on.

    Example::

        worker = LocalWorker(events)
        await worker.start_container(spec)
    """

    def __init__(self, events: WorkerEvents, max_containers: int | None = None,
                 capacity: Capacity | None = None, zygotes: bool | None = None) -> None:
        """``zygotes``: fork containers from zygotes (None: as configured); a worker that will
        only ever start one container has no use for them."""
        self._events = events
        self._max = max_containers
        self.capacity = capacity or Capacity()
        self._drivers: dict[str, Driver] = {}
        self._default_runtime: str | None = None
        self._tasks: dict[str, tuple[Driver, TaskHandle]] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._starting: set[str] = set()
        self._builder: Builder | None = None
        self._zygotes = zygotes
        self._channels: dict[str, SupervisorChannel] = {}
        self._sandbox_runtime: str | None = None
        self._spares = SandboxSpares(self._start_spare)
        self._buckets: dict[str, BucketMounts] = {}  # container id -> its bucket mounts

    def never_fits(self, spec: ContainerSpec) -> str | None:
        return self.capacity.never_fits(request_of(spec))

    def fits(self, spec: ContainerSpec) -> bool:
        if self._max is not None and len(self._tasks) + len(self._starting) >= self._max:
            return False
        return self.capacity.fits(request_of(spec))

    def describe_free(self) -> str:
        return self.capacity.describe_free()

    def nodes_in_use(self) -> list[NodeUsage]:
        return [self.capacity.usage(socket.gethostname())]

    async def build_image(self, steps: list[dict[str, Any]], runtime: str,
                          log: Callable[[str], None]) -> dict[str, Any]:
        chosen = runtime or self.default_runtime()
        if chosen not in ("namespace", "gvisor"):
            raise exception.InvalidError(
                f"images need the namespace runtime, and this function would run with "
                f"{chosen!r} ({'chosen' if runtime else 'the only one usable here'}); run ketch "
                "as root on Linux, or drop image= to run on this machine's own Python"
            )
        return (await self._images().build(steps, log)).to_wire()

    def _images(self) -> Builder:
        if self._builder is None:
            self._builder = Builder(config.home() / "images", hide=[str(config.home())])
        return self._builder

    def _sandbox(self, container_id: str) -> SandboxSetup | None:
        entry = self._tasks.get(container_id)
        return entry[1].sandbox if entry else None

    def sandbox_address(self, container_id: str) -> str | None:
        setup = self._sandbox(container_id)
        return setup.network.address if setup is not None and setup.network else None

    def placement_note(self, spec: ContainerSpec) -> str | None:
        """One machine has nowhere else to put a container: what a placement asked is noted."""
        if not spec.placement:
            return None
        asked = ", ".join(f"{k}={v}" for k, v in spec.placement.items())
        return (f"ketch: {spec.function_name} asks for scheduler_placement {asked}; this "
                "backend is one machine, so it runs here")

    def container_address(self, container_id: str) -> str | None:
        """Where a function's container listens: it shares this machine's network."""
        return "127.0.0.1" if container_id in self._tasks else None

    async def sandbox_snapshot(self, container_id: str) -> str:
        setup = self._sandbox(container_id)
        if setup is None:
            raise exception.NotFoundError(f"sandbox {container_id} is not running")
        return await snapshot_layer(self._images().store, setup.disk / "upper", setup.hidden,
                                    container_id)

    async def sandbox_checkpoint(self, container_id: str, folder: str) -> None:
        entry = self._tasks.get(container_id)
        if entry is None or entry[1].sandbox is None:
            raise exception.NotFoundError(f"sandbox {container_id} is not running")
        driver, handle = entry
        await driver.checkpoint_task(handle, Path(folder))

    async def start_container(self, spec: ContainerSpec) -> bool:
        gpus = self.capacity.reserve(spec.container_id, request_of(spec))
        self._starting.add(spec.container_id)
        try:
            mounted = await self._mount_buckets(spec)
            return mounted is not None and await self._start(mounted, gpus)
        finally:
            self._starting.discard(spec.container_id)
            if spec.container_id not in self._tasks:  # it never started, or ended already
                await self._release_buckets(spec.container_id)

    async def _mount_buckets(self, spec: ContainerSpec) -> ContainerSpec | None:
        """The spec with binds of its bucket mounts, mounted now (`ketch.worker.buckets`);
        None when one cannot be mounted (the container has failed to start, saying why)."""
        if not spec.buckets:
            return spec
        from ..backends.sandboxing import SANDBOX_USER

        owner = SANDBOX_USER if spec.sandbox is not None else None
        try:
            mounts = await BucketMounts.mount_all(
                spec.buckets, config.home() / "buckets" / spec.container_id, owner)
        except exception.Error as exc:
            reason = f"the container failed to start: {exc}"
            self._exited(spec.container_id, ContainerExit(None, None, reason))
            return None
        self._buckets[spec.container_id] = mounts
        return dataclasses.replace(spec, binds=[*spec.binds, *mounts.binds])

    async def _release_buckets(self, container_id: str) -> None:
        mounts = self._buckets.pop(container_id, None)
        if mounts is not None:
            await mounts.release()

    async def _start(self, spec: ContainerSpec, gpus: list[Gpu]) -> bool:
        """Start the container; whether it was forked (`Worker.start_container`)."""
        try:
            runtime = (self.sandbox_runtime(spec.runtime) if spec.sandbox
                       else spec.runtime or self.default_runtime())
            driver = self._driver(runtime)
        except Exception as exc:  # an unusable runtime fails the container, with the reason
            self._exited(spec.container_id, ContainerExit(None, None, str(exc)))
            return False
        if spec.sandbox is not None:
            await self._start_sandbox(driver, spec, gpus)
            return False
        env = container_base_env(spec.image)
        env.update(visible_devices(gpus))  # no GPUs at all unless it was given some
        python = sys.executable
        if spec.image:
            python = spec.image["python"]
            env.update(spec.image["env"])
            venv_bin = os.path.dirname(python)
            env["PATH"] = f"{venv_bin}:{env.get('PATH', '/usr/bin:/bin')}"
            env["PYTHONPATH"] = ":".join(spec.image["python_path"])
            env["VIRTUAL_ENV"] = os.path.dirname(venv_bin)
        env.update(spec.env)
        if spec.volumes:
            env["KETCH_VOLUMES"] = json.dumps({v["volume_id"]: v["mount"] for v in spec.volumes})
        env.update(
            KETCH_CONTAINER_ID=spec.container_id,
            KETCH_CONTAINER_TOKEN=spec.token,
            KETCH_SERVER=spec.server_address,
            PYTHONUNBUFFERED="1",
        )
        if driver.capabilities().isolation != "none":
            env["KETCH_SOURCE_DIR"] = MODULE_DIR
        board_fd, board_path = tempfile.mkstemp(prefix=f"{spec.container_id}-", suffix=".board")
        os.close(board_fd)
        board.create(board_path)
        env["KETCH_BOARD"] = board_path
        command = [*(spec.image or {}).get("entrypoint", []), python, "-m", "ketch.container"]
        handle = await self._launch(driver, spec, command, env, gpus, board_path)
        return handle is not None and handle.forked

    async def _start_sandbox(self, driver: Driver, spec: ContainerSpec, gpus: list[Gpu]) -> None:
        """A spare of its shape if one is running (`ketch.worker.spares`), else a new one;
        either way, the next spare of that shape starts in the background."""
        spare = await self._spares.take(spec)
        if spare is not None:
            self._track(spare[0], spec, spare[1], gpus)
        else:
            env = {**sandbox_env(spec), **visible_devices(gpus)}
            await self._launch(driver, spec, sandbox_command(spec), env, gpus, None)
        if config.sandbox_spares_enabled():
            self._spares.refill(driver, spec)

    async def _start_spare(self, driver: Driver, spec: ContainerSpec) -> TaskHandle:
        return await driver.start_task(spec, sandbox_command(spec), sandbox_env(spec), [])

    async def _launch(self, driver: Driver, spec: ContainerSpec, command: list[str],
                      env: dict[str, str], gpus: list[Gpu],
                      board_path: str | None) -> TaskHandle | None:
        try:
            handle = await driver.start_task(spec, command, env, device_nodes(gpus))
        except (OSError, exception.Error) as exc:
            if board_path:
                os.unlink(board_path)
            reason = f"the container failed to start: {exc}"
            self._exited(spec.container_id, ContainerExit(None, None, reason))
            return None
        if board_path:
            handle.state.setdefault("board", board_path)  # a driver may have moved it
        self._track(driver, spec, handle, gpus)
        return handle

    def _track(self, driver: Driver, spec: ContainerSpec, handle: TaskHandle,
               gpus: list[Gpu]) -> None:
        """Watch a started task until it ends: its output, usage and exit."""
        if spec.sandbox is not None:
            self._channels[spec.container_id] = SupervisorChannel(
                driver, handle, self._events.sandbox_frame,
                lambda text: self._events.container_log(handle.container_id, "stderr", text))
        for note in handle.notes:
            self._events.container_log(spec.container_id, "stderr", note)
        self._tasks[spec.container_id] = (driver, handle)
        models: dict[str, int] = {}
        for gpu in gpus:
            models[gpu.model] = models.get(gpu.model, 0) + 1
        meter = UsageMeter(driver, handle, models,
                           lambda sample: self._events.container_usage(spec.container_id, sample))
        watcher = asyncio.ensure_future(self._watch(driver, handle, meter))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def stop_container(self, container_id: str, grace_s: float) -> None:
        entry = self._tasks.get(container_id)
        if entry is not None:
            driver, handle = entry
            await driver.stop_task(handle, grace_s)

    async def close(self) -> None:
        await self._spares.close()
        await asyncio.gather(
            *(self.stop_container(cid, 2.0) for cid in list(self._tasks)), return_exceptions=True
        )
        if self._watchers:
            await asyncio.wait(self._watchers, timeout=5.0)
        for driver in self._drivers.values():
            await driver.close()

    def sandbox_send(self, container_id: str, data: bytes) -> None:
        channel = self._channels.get(container_id)
        if channel is not None:
            channel.send(data)

    def sandbox_runtime(self, runtime: str | None) -> str:
        """``gvisor`` where runsc works, else the hardened ``namespace`` runtime."""
        if runtime == "process":
            raise exception.InvalidError(
                "sandboxes need isolation, which the process runtime lacks; leave runtime "
                "unset, or run ketch as root on Linux"
            )
        if runtime:
            return runtime
        if self._sandbox_runtime is None:
            from ..backends import sandbox_runtime

            self._sandbox_runtime = sandbox_runtime()
        return self._sandbox_runtime

    def runtime_of(self, runtime: str | None) -> str:
        return runtime or self.default_runtime()

    def default_runtime(self) -> str:
        if self._default_runtime is None:
            self._default_runtime = default_runtime()
        return self._default_runtime

    def _driver(self, name: str) -> Driver:
        if name not in self._drivers:
            self._drivers[name] = get_driver(name, self._zygotes)
        return self._drivers[name]

    async def _watch(self, driver: Driver, handle: TaskHandle, meter: UsageMeter) -> None:
        """Until the task ends: forward its output and usage; then always reap it, free its
        capacity and report its exit, whatever failed on the way."""
        sampling = asyncio.ensure_future(meter.run())
        channel = self._channels.get(handle.container_id)
        cid = handle.container_id
        streams = [
            forward(stream, functools.partial(self._events.container_log, cid, name))
            for name, stream in (("stdout", handle.stdout), ("stderr", handle.stderr))
            if stream is not None and not (channel and name == "stdout")
        ]
        if channel is not None:
            streams.append(channel.run())
        exit_ = ContainerExit(None, None, "ketch lost track of the container")
        try:
            ended, *_ = await asyncio.gather(driver.wait_task(handle), *streams,
                                             return_exceptions=True)
            if isinstance(ended, ContainerExit):
                exit_ = ended
            sampling.cancel()
            self._events.container_usage(cid, meter.sample())
            board_path = handle.state.get("board")
            if board_path:
                exit_ = dataclasses.replace(exit_, running=board.read(board_path))
            if channel is not None and channel.broken:
                exit_ = dataclasses.replace(exit_, reason=channel.broken)
            await self._events.container_finishing(cid)
        finally:
            sampling.cancel()
            await self._reap(driver, handle, exit_)

    async def _reap(self, driver: Driver, handle: TaskHandle, exit_: ContainerExit) -> None:
        try:
            await driver.destroy_task(handle)
        finally:
            board_path = handle.state.get("board")
            if board_path and os.path.exists(board_path):
                os.unlink(board_path)
            self._tasks.pop(handle.container_id, None)
            self._channels.pop(handle.container_id, None)
            await self._release_buckets(handle.container_id)
            self._exited(handle.container_id, exit_)

    def _exited(self, container_id: str, exit_: ContainerExit) -> None:
        self.capacity.release(container_id)
        self._events.container_exited(container_id, exit_)
