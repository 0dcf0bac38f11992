"""Spare sandboxes: one started ahead per shape, so that ``Sandbox.create`` finds it running.

A sandbox's start is mostly the runtime's (runsc creates its sentry and gofer; the launcher
joins cgroups and builds a root) and the supervisor's interpreter. None of that depends on who
asked: the sandbox's command, environment and secrets reach it later, in ``exec`` frames. So
after each sandbox of a shape (runtime, network mode, image, working directory) starts, the
worker starts the next one's in the background; the next create of that shape adopts it (its
cgroup takes the new limits) and only the command's own start remains.

Sandboxes with volumes, GPUs, an allowlist or a disk size of their own always start cold. A
spare unused for `IDLE_S` is stopped; one holds no reservation of the machine's capacity and
no data of anyone's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import signal
import time
from collections.abc import Awaitable, Callable

from ..backends import Driver, TaskHandle
from ..protocol.worker import ContainerSpec, SandboxPolicy

IDLE_S = 600.0

Start = Callable[[Driver, ContainerSpec], Awaitable[TaskHandle]]


def shape(spec: ContainerSpec) -> str | None:
    """What a spare for ``spec`` must have been started with; None: ``spec`` takes no spare."""
    policy = spec.sandbox
    if (policy is None or spec.volumes or spec.buckets or spec.checkpoint or spec.gpu or policy.cidr_allowlist is not None
            or policy.disk_mib != SandboxPolicy().disk_mib or policy.pids != SandboxPolicy().pids):
        return None
    return json.dumps([spec.runtime, policy.block_network, spec.image, spec.workdir],
                      sort_keys=True)


class SandboxSpares:
    """Example::

        spares = SandboxSpares(start)        # start(driver, spec) -> TaskHandle
        handle = await spares.take(spec)     # a running spare of spec's shape, or None
        spares.refill(driver, spec)          # start the next one in the background
    """

    def __init__(self, start: Start) -> None:
        self._start = start
        self._ready: dict[str, tuple[Driver, TaskHandle, float]] = {}
        self._starting: dict[str, asyncio.Task[None]] = {}

    async def take(self, spec: ContainerSpec) -> tuple[Driver, TaskHandle] | None:
        """A running spare of ``spec``'s shape, given to it; one still starting is waited
        for, as it is further along than a start from nothing would be."""
        key = shape(spec)
        if key in self._starting:
            await asyncio.wait([self._starting[key]])
        entry = self._ready.pop(key, None) if key else None
        if entry is None:
            return None
        driver, handle, _ = entry
        if not driver.task_running(handle):  # died waiting: never handed out
            asyncio.ensure_future(_stop(driver, handle))
            return None
        handle.container_id = spec.container_id
        driver.adopt_task(handle, spec)
        return driver, handle

    def refill(self, driver: Driver, spec: ContainerSpec) -> None:
        key = shape(spec)
        if key is None or key in self._ready or key in self._starting:
            return
        # no limits of its own until adopted: a CPU cap set now would outlive it (`adopt`)
        spare = dataclasses.replace(spec, container_id=f"sb-{secrets.token_hex(6)}", cpu=None,
                                    memory_mb=None)
        self._starting[key] = asyncio.ensure_future(self._make(key, driver, spare))
        self._retire_idle()

    async def _make(self, key: str, driver: Driver, spare: ContainerSpec) -> None:
        try:
            handle = await self._start(driver, spare)
        except Exception:  # a spare that cannot start: the next create starts cold and says why
            return
        finally:
            self._starting.pop(key, None)
        self._ready[key] = (driver, handle, time.monotonic())
        asyncio.get_running_loop().call_later(IDLE_S + 1, self._retire_idle)

    def _retire_idle(self) -> None:
        now = time.monotonic()
        for key, (driver, handle, made) in list(self._ready.items()):
            if now - made > IDLE_S:
                del self._ready[key]
                asyncio.ensure_future(_stop(driver, handle))

    async def close(self) -> None:
        await asyncio.gather(*self._starting.values(), return_exceptions=True)
        ready, self._ready = self._ready, {}
        await asyncio.gather(*(_stop(driver, handle) for driver, handle, _ in ready.values()),
                             return_exceptions=True)


async def _stop(driver: Driver, handle: TaskHandle) -> None:
    driver.signal_task(handle, signal.SIGKILL)
    await driver.wait_task(handle)
    await driver.destroy_task(handle)
