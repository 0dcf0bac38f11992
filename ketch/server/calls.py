"""A function call as the control plane tracks it: its expected inputs and its outputs."""

from __future__ import annotations

from ..protocol.client import OutputRecord
from ..protocol.container import Status
from .wakeup import Wakeup


class Call:
    """The outputs of one call (``.remote``, ``.map`` or ``.spawn``), read with a cursor.

    Outputs of calls that are not durable are dropped once the caller has read past them.
    """

    def __init__(self, call_id: str, function_id: str, kind: str, durable: bool,
                 creator: str | None = None) -> None:
        self.id = call_id
        self.function_id = function_id
        self.kind = kind
        self.durable = durable
        self.creator = creator  # who may feed it inputs (`ketch.server.access`)
        self.expected: int | None = None
        self.sent = 0
        self.finished: set[int] = set()
        self.cancelled = False
        self._outputs: list[OutputRecord] = []
        self._base = 0
        self._wakeup = Wakeup()

    @property
    def done(self) -> bool:
        return self.expected is not None and len(self.finished) >= self.expected

    @property
    def end(self) -> int:
        return self._base + len(self._outputs)

    def add(self, records: list[OutputRecord]) -> list[OutputRecord]:
        """Add output records; return those that were kept."""
        kept = []
        for record in records:
            if record.index in self.finished:
                continue  # a late duplicate, for example from a container declared dead
            if record.status in Status.FINAL:
                self.finished.add(record.index)
            kept.append(record)
        self._outputs.extend(kept)
        if kept or self.done:
            self.wake()
        return kept

    def wake(self) -> None:
        self._wakeup.wake()

    async def read(self, cursor: int, timeout: float | None) -> tuple[list[OutputRecord], int]:
        if cursor >= self.end and not self.done and timeout != 0:
            await self._wakeup.wait(timeout)
        start = max(cursor, self._base)
        records = self._outputs[start - self._base :]
        if not self.durable and start > self._base:
            del self._outputs[: start - self._base]
            self._base = start
        return records, self.end
