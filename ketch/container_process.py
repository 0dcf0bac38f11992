"""A process started in a sandbox with ``exec``, as Modal's ``modal.container_process``."""

from __future__ import annotations

import signal
from typing import Generic, TypeVar

from .client import CURRENT, send
from .io_streams import StreamReader, StreamWriter
from .protocol import client as protocol
from .synchronizer import aio

T = TypeVar("T", str, bytes)

POLL_S = 50.0


class ContainerProcess(Generic[T]):
    """Example::

        p = sb.exec("bash", "-c", "echo out; echo err >&2; exit 3")
        assert p.wait() == 3
        assert p.stdout.read() == "out\\n" and p.stderr.read() == "err\\n"
    """

    def __init__(self, sandbox_id: str, process: int, *, text: bool = True,
                 by_line: bool = False, stdout_piped: bool = True,
                 stderr_piped: bool = True) -> None:
        self._sandbox_id = sandbox_id
        self._process = process
        self._client = CURRENT.get()  # the client= of the call that made it, if any
        self._returncode: int | None = None
        self._stdout: StreamReader[T] = StreamReader(sandbox_id, process, "stdout", text,
                                                     by_line, stdout_piped)
        self._stderr: StreamReader[T] = StreamReader(sandbox_id, process, "stderr", text,
                                                     by_line, stderr_piped)
        self._stdin = StreamWriter(sandbox_id, process)

    @property
    def stdout(self) -> StreamReader[T]:
        return self._stdout

    @property
    def stderr(self) -> StreamReader[T]:
        return self._stderr

    @property
    def stdin(self) -> StreamWriter:
        return self._stdin

    @property
    def returncode(self) -> int | None:
        """Its exit status once it has ended (-N when signal N ended it), else None."""
        return self._returncode

    @aio
    async def poll(self) -> int | None:
        """The exit status if it has ended, without waiting; else None."""
        return await self._wait(0)

    @aio
    async def wait(self) -> int:
        """Wait for it to end; its exit status."""
        while (code := await self._wait(POLL_S)) is None:
            pass
        return code

    async def _wait(self, timeout: float) -> int | None:
        if self._returncode is None:
            answer = await send(protocol.ProcessWait(sandbox_id=self._sandbox_id,
                                                     process=self._process, timeout=timeout))
            self._returncode = answer.returncode
        return self._returncode

    @aio
    async def terminate(self) -> None:
        """Kill the process and what it started (SIGKILL to its process group)."""
        await send(protocol.ProcessSignal(sandbox_id=self._sandbox_id, process=self._process,
                                          signal=signal.SIGKILL))
