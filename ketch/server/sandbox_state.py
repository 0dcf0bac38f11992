"""What the control plane keeps of a sandbox while it lives: its processes and their output.

Output is kept until its reader has read it, up to `Stream.LIMIT` bytes per stream. Past that
the stream lets go of its oldest unread bytes: it never waits for its reader. All of a
sandbox's processes share one channel from its supervisor, so a stream that made the channel
wait would freeze every exec of the sandbox, and waiting would need the reader to come back.
As in Modal, where output is buffered for the client and an unread stream blocks nothing, the
process goes on; a reader that falls that far behind skips ahead to the newest `LIMIT` bytes,
and the sandbox's log says how much was dropped.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..protocol.client import SandboxInfo
from ..protocol.definition import SandboxDefinition

if TYPE_CHECKING:
    from .tunnels import Tunnel


class Stream:
    """One process's stdout or stderr, read from a byte offset that only moves forward.

    Example::

        data, cursor, eof = await stream.read(0, timeout=5.0)
        data, cursor, eof = await stream.read(cursor, timeout=5.0)
    """

    LIMIT = 16 << 20

    def __init__(self) -> None:
        self.data = bytearray()
        self.start = 0  # the offset of data[0]: what lies before it was read or dropped
        self.dropped = 0  # bytes let go unread
        self.eof = False
        self.changed = asyncio.Event()

    def _wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def append(self, data: bytes) -> int:
        """Keep ``data``; return how many of the oldest unread bytes were let go for it."""
        self.data += data
        drop = max(0, len(self.data) - self.LIMIT)
        if drop:
            del self.data[:drop]
            self.start += drop
            self.dropped += drop
        self._wake()
        return drop

    def close(self) -> None:
        self.eof = True
        self._wake()

    async def read(self, cursor: int, timeout: float | None) -> tuple[bytes, int, bool]:
        """What lies past ``cursor``, waiting up to ``timeout`` for something to; the new
        cursor; whether the stream has ended."""
        cursor = max(cursor, self.start)
        if cursor >= self.start + len(self.data) and not self.eof:
            try:
                await asyncio.wait_for(self.changed.wait(), timeout)
            except TimeoutError:
                pass
            cursor = max(cursor, self.start)  # bytes may have been dropped meanwhile
        del self.data[:cursor - self.start]
        self.start = cursor
        data = bytes(self.data)
        return data, cursor + len(data), self.eof and not data


class Process:
    """A process of a sandbox: its command (number 0) or one ``exec``."""

    def __init__(self, number: int, argv: list[str]) -> None:
        self.number = number
        self.argv = argv
        self.stdout = Stream()
        self.stderr = Stream()
        self.returncode: int | None = None
        self.done = asyncio.Event()
        self.timer: asyncio.TimerHandle | None = None

    def stream(self, name: str) -> Stream:
        return self.stdout if name == "stdout" else self.stderr

    def finish(self, returncode: int) -> None:
        if self.returncode is None:
            self.returncode = returncode
        self.stdout.close()
        self.stderr.close()
        self.done.set()
        if self.timer is not None:
            self.timer.cancel()


class SandboxState:
    def __init__(self, sandbox_id: str, app_id: str, name: str | None,
                 options: SandboxDefinition) -> None:
        self.id = sandbox_id
        self.app_id = app_id
        self.name = name
        self.options = options
        self.tags: dict[str, str] = {}
        self.env: dict[str, str] = {}  # its env= and secrets, for every process it starts
        self.created = time.time()
        self.last_active = time.monotonic()
        self.procs: dict[int, Process] = {}
        self.next_proc = 1
        self.next_request = 1
        self.files: dict[int, asyncio.Future[tuple[dict[str, Any], bytes]]] = {}
        self.returncode: int | None = None
        self.status = "running"  # then "completed", "failed", "terminated" or "timeout"
        self.reason = ""
        self.ending_reason: str | None = None  # why ketch is stopping it, once it is
        self.done = asyncio.Event()
        self.deadline: asyncio.TimerHandle | None = None  # its timeout
        self.ready = asyncio.Event()  # its readiness probe passed
        self.tunnels: dict[int, Tunnel] = {}
        self.image: dict[str, Any] | None = None
        self.runtime = ""

    def touch(self) -> None:
        self.last_active = time.monotonic()

    def running_execs(self) -> int:
        return sum(1 for n, p in self.procs.items() if n and p.returncode is None)

    def processes(self) -> list[dict[str, Any]]:
        """Its command (number 0) and execs: their argv and, once ended, return code."""
        return [{"process": n, "argv": p.argv, "returncode": p.returncode}
                for n, p in sorted(self.procs.items())]

    def describe(self) -> SandboxInfo:
        return SandboxInfo(sandbox_id=self.id, app_id=self.app_id, name=self.name,
                           tags=self.tags, created=self.created, runtime=self.runtime,
                           returncode=self.returncode, reason=self.reason, status=self.status,
                           done=self.done.is_set(), command=self.options.command)
