"""The lines printed by each app's containers, kept for the clients that stream them.

The window holds the newest `MAX_LINES` lines and at most `MAX_BYTES` of their text, whichever
is less: a container printing long lines cannot grow the control plane's memory without end.
"""

from __future__ import annotations

from ..protocol.client import LogLine
from .wakeup import Wakeup

MAX_LINES = 20_000
MAX_BYTES = 32 << 20


class AppLogs:
    """An append-only window of log lines with a cursor that only grows.

    Example::

        logs.append(LogLine(function="square", container_id="ct-1", stream="stdout",
                            text="working on 3"))
        lines, cursor = await logs.read(0, timeout=1.0)
    """

    def __init__(self, max_lines: int = MAX_LINES, max_bytes: int = MAX_BYTES) -> None:
        self._lines: list[LogLine] = []
        self._base = 0
        self._bytes = 0  # the text held
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._wakeup = Wakeup()
        self.closed = False

    def append(self, line: LogLine) -> None:
        self._lines.append(line)
        self._bytes += len(line.text)
        if len(self._lines) > self._max_lines or self._bytes > self._max_bytes:
            drop = 0
            while (len(self._lines) - drop > self._max_lines
                   or self._bytes > self._max_bytes) and drop < len(self._lines) - 1:
                self._bytes -= len(self._lines[drop].text)
                drop += 1
            del self._lines[:drop]
            self._base += drop
        self._wakeup.wake()

    def cursor_before(self, lines: int) -> int:
        """The cursor from which a read gets the newest ``lines`` lines held."""
        return max(self._base, self._base + len(self._lines) - lines)

    def close(self) -> None:
        self.closed = True
        self._wakeup.wake()

    async def read(self, cursor: int, timeout: float | None) -> tuple[list[LogLine], int]:
        end = self._base + len(self._lines)
        if cursor >= end and not self.closed and timeout != 0:
            await self._wakeup.wait(timeout)
            end = self._base + len(self._lines)
        start = max(cursor, self._base)
        return self._lines[start - self._base :], end
