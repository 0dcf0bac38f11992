"""`LocalWorker` runs containers on this machine through a runtime driver.

It starts the container agent (``python -m ketch.container``) with the control plane's address
and the container's token, forwards every line the container prints to the control plane, and
reports how each container ended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import tempfile

from ..backends import Driver, TaskHandle, default_runtime, get_driver
from ..protocol import board
from ..protocol.worker import ContainerExit, ContainerSpec, WorkerEvents

# Settings of the shell that started ketch that must not reach containers: without bytecode
# caches every container would compile ketch and the user's modules from source again.
HOST_ONLY_ENV = frozenset({"PYTHONDONTWRITEBYTECODE"})


class LocalWorker:
    """The worker of the machine the control plane runs on.

    Example::

        worker = LocalWorker(events, max_containers=8)
        await worker.start_container(spec)
    """

    def __init__(self, events: WorkerEvents, max_containers: int) -> None:
        self._events = events
        self._max = max_containers
        self._drivers: dict[str, Driver] = {}
        self._default_runtime: str | None = None
        self._tasks: dict[str, tuple[Driver, TaskHandle]] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    def free_slots(self) -> int:
        return max(0, self._max - len(self._tasks))

    async def start_container(self, spec: ContainerSpec) -> None:
        try:
            driver = self._driver(spec.runtime or self.default_runtime())
        except Exception as exc:  # an unusable runtime fails the container, with the reason
            self._events.container_exited(spec.container_id, ContainerExit(None, None, str(exc)))
            return
        env = {k: v for k, v in os.environ.items() if k not in HOST_ONLY_ENV}
        env.update(spec.env)
        env.update(
            KETCH_CONTAINER_ID=spec.container_id,
            KETCH_CONTAINER_TOKEN=spec.token,
            KETCH_SERVER=spec.server_address,
            PYTHONUNBUFFERED="1",
        )
        board_fd, board_path = tempfile.mkstemp(prefix=f"{spec.container_id}-", suffix=".board")
        os.close(board_fd)
        board.create(board_path)
        env["KETCH_BOARD"] = board_path
        command = [sys.executable, "-m", "ketch.container"]
        try:
            handle = await driver.start_task(spec, command, env)
        except OSError as exc:
            os.unlink(board_path)
            self._events.container_exited(
                spec.container_id, ContainerExit(None, None, f"the container failed to start: {exc}")
            )
            return
        handle.state.setdefault("board", board_path)  # a driver may have moved it
        self._tasks[spec.container_id] = (driver, handle)
        watcher = asyncio.ensure_future(self._watch(driver, handle))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def stop_container(self, container_id: str, grace_s: float) -> None:
        entry = self._tasks.get(container_id)
        if entry is not None:
            driver, handle = entry
            await driver.stop_task(handle, grace_s)

    async def close(self) -> None:
        await asyncio.gather(
            *(self.stop_container(cid, 2.0) for cid in list(self._tasks)), return_exceptions=True
        )
        if self._watchers:
            await asyncio.wait(self._watchers, timeout=5.0)

    def default_runtime(self) -> str:
        if self._default_runtime is None:
            self._default_runtime = default_runtime()
        return self._default_runtime

    def _driver(self, name: str) -> Driver:
        if name not in self._drivers:
            self._drivers[name] = get_driver(name)
        return self._drivers[name]

    async def _watch(self, driver: Driver, handle: TaskHandle) -> None:
        streams = [
            self._forward(handle.container_id, name, stream)
            for name, stream in (("stdout", handle.stdout), ("stderr", handle.stderr))
            if stream is not None
        ]
        exit_: ContainerExit
        exit_, *_ = await asyncio.gather(driver.wait_task(handle), *streams)  # type: ignore[assignment]
        board_path = handle.state["board"]
        exit_ = dataclasses.replace(exit_, running=board.read(board_path))
        await driver.destroy_task(handle)
        if os.path.exists(board_path):
            os.unlink(board_path)
        self._tasks.pop(handle.container_id, None)
        self._events.container_exited(handle.container_id, exit_)

    async def _forward(self, container_id: str, name: str, stream: asyncio.StreamReader) -> None:
        while True:
            line = await stream.readline()
            if not line:
                return
            self._events.container_log(container_id, name, line.decode(errors="replace").rstrip("\n"))
