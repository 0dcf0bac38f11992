"""The runtime driver interface, shaped after Nomad's task drivers.

A driver starts a task (the container's agent process) from a `ContainerSpec` and a command,
and returns a `TaskHandle`; the worker then waits on it, stops it, signals it and finally
destroys it. `Capabilities` tells the worker what the driver isolates.
"""

from __future__ import annotations

import abc
import asyncio
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import exception
from ..protocol.worker import ContainerExit, ContainerSpec

if TYPE_CHECKING:
    from pathlib import Path

    from .sandboxing import SandboxSetup


@dataclass(frozen=True)
class Capabilities:
    isolation: str  # "none", "namespaces", "gvisor"
    enforces_resources: bool
    supports_gpus: bool
    checkpoints: bool = False  # saves a running task's memory, and restores tasks from it


@dataclass(frozen=True)
class TaskStats:
    """Cumulative CPU seconds and current memory of a task, from its cgroup."""

    cpu_s: float
    memory_bytes: int


@dataclass
class TaskHandle:
    """A started task. ``state`` is the driver's own data, opaque to the worker; ``sandbox``
    (a sandbox's) is what the host prepared for it, which the worker reads too: its network's
    address, its writable layer, its cgroup."""

    container_id: str
    pid: int
    stdout: asyncio.StreamReader | None
    stderr: asyncio.StreamReader | None
    state: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    notes: list[str] = field(default_factory=list)  # lines for the container's log, from ketch
    stdin: asyncio.StreamWriter | None = None  # a sandbox's channel to its supervisor
    sandbox: SandboxSetup | None = None
    forked: bool = False  # forked from a zygote: no interpreter had to start


def no_checkpoints(runtime: str) -> exception.UnimplementedError:
    """The error for a memory snapshot asked of a runtime that cannot take one."""
    return exception.UnimplementedError(
        f"memory snapshots need the gvisor runtime (gVisor's runsc checkpoint and restore); "
        f"this sandbox runs on the {runtime} runtime: create it with runtime='gvisor' on a "
        "machine with runsc installed")


class Driver(abc.ABC):
    name: str

    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abc.abstractmethod
    def fingerprint(self) -> str | None:
        """None when the driver works on this machine, else why it does not."""

    @abc.abstractmethod
    async def start_task(  # devices: extra /dev nodes the task may use (its GPUs)
        self, spec: ContainerSpec, command: list[str], env: dict[str, str], devices: list[str]
    ) -> TaskHandle: ...

    @abc.abstractmethod
    async def wait_task(self, handle: TaskHandle) -> ContainerExit: ...

    async def stop_task(self, handle: TaskHandle, grace_s: float) -> None:
        """Ask the task to stop (SIGTERM), and kill it after ``grace_s``. Drivers whose task is
        an `asyncio.subprocess.Process` in ``state["proc"]`` can keep this."""
        proc: asyncio.subprocess.Process = handle.state["proc"]
        if proc.returncode is not None:
            return
        self.signal_task(handle, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            self.signal_task(handle, signal.SIGKILL)
            await proc.wait()

    def task_running(self, handle: TaskHandle) -> bool:
        """Whether the task has not ended yet (the same drivers as `stop_task` can keep it)."""
        return handle.state["proc"].returncode is None

    @abc.abstractmethod
    def signal_task(self, handle: TaskHandle, signum: int) -> None: ...

    def adopt_task(self, handle: TaskHandle, spec: ContainerSpec) -> None:
        """Give a task started ahead (a spare sandbox) to ``spec``: its limits from now on.
        Drivers that start no spares need not implement it."""
        raise NotImplementedError(f"the {self.name} runtime keeps no spares")

    def task_stats(self, handle: TaskHandle) -> TaskStats | None:
        """What the task has used so far; None when the driver cannot measure it."""
        return None

    async def checkpoint_task(self, handle: TaskHandle, folder: Path) -> None:
        """Save the running task's memory and files in ``folder`` (drivers whose
        `Capabilities` say ``checkpoints``)."""
        raise no_checkpoints(self.name)

    async def destroy_task(self, handle: TaskHandle) -> None:
        """Release whatever the task left behind (nothing, for drivers without state)."""

    async def close(self) -> None:
        """Release what the driver keeps between tasks, once its tasks have ended."""
