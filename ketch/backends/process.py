"""The ``process`` runtime: the agent runs as a plain child process, with no isolation.

For machines without namespaces (non-root, non-Linux). It warns once that nothing is isolated.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from ..protocol.worker import ContainerExit, ContainerSpec
from .base import Capabilities, Driver, TaskHandle

_warned = False
log = logging.getLogger("ketch")


def describe_exit(returncode: int) -> ContainerExit:
    if returncode < 0:
        signum = -returncode
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        return ContainerExit(None, signum, f"the container was killed by {name}")
    return ContainerExit(returncode, None, f"the container exited with code {returncode}")


class ProcessDriver(Driver):
    name = "process"

    def capabilities(self) -> Capabilities:
        return Capabilities(isolation="none", enforces_resources=False, supports_gpus=False)

    def fingerprint(self) -> str | None:
        return None

    async def start_task(
        self, spec: ContainerSpec, command: list[str], env: dict[str, str], devices: list[str]
    ) -> TaskHandle:
        _warn_once()
        proc = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=1 << 22,
        )
        return TaskHandle(spec.container_id, proc.pid, proc.stdout, proc.stderr, {"proc": proc})

    async def wait_task(self, handle: TaskHandle) -> ContainerExit:
        returncode = await handle.state["proc"].wait()
        return describe_exit(returncode)

    def signal_task(self, handle: TaskHandle, signum: int) -> None:
        try:
            os.killpg(handle.pid, signum)
        except ProcessLookupError:
            pass


def _warn_once() -> None:
    global _warned
    if not _warned:
        _warned = True
        log.warning(
            "containers run with the 'process' runtime: nothing is isolated "
            "(no namespaces, no resource limits)."
        )
