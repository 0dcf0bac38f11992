"""The lines printed by each app's containers, kept for the clients that stream them."""

from __future__ import annotations

from typing import Any

from .wakeup import Wakeup

MAX_LINES = 20_000


class AppLogs:
    """An append-only window of log lines with a cursor that only grows.

    Example::

        logs.append(["square", "ct-1", "stdout", "working on 3"])
        lines, cursor = await logs.read(0, timeout=1.0)
    """

    def __init__(self) -> None:
        self._lines: list[list[Any]] = []
        self._base = 0
        self._wakeup = Wakeup()
        self.closed = False

    def append(self, line: list[Any]) -> None:
        self._lines.append(line)
        if len(self._lines) > MAX_LINES:
            drop = len(self._lines) - MAX_LINES
            del self._lines[:drop]
            self._base += drop
        self._wakeup.wake()

    def close(self) -> None:
        self.closed = True
        self._wakeup.wake()

    async def read(self, cursor: int, timeout: float | None) -> tuple[list[list[Any]], int]:
        end = self._base + len(self._lines)
        if cursor >= end and not self.closed and timeout != 0:
            await self._wakeup.wait(timeout)
            end = self._base + len(self._lines)
        start = max(cursor, self._base)
        return self._lines[start - self._base :], end
