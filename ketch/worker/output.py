"""A container's stdout and stderr, read in bounded pieces and handed on as lines.

Whatever a container prints, reading it never fails and never holds more than `CHUNK` bytes
plus one partial line: a line longer than `MAX_LINE` characters is handed on in pieces of that
length, and one that never ends is handed on when the stream does. Reading must go on to the
end of the stream, or the container would block on a full pipe and never exit.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Callable

log = logging.getLogger("ketch")

CHUNK = 1 << 16
MAX_LINE = 1 << 16


class LineSplitter:
    """Bytes in, lines out (without their newline), none over `MAX_LINE` characters.

    Example::

        lines = LineSplitter()
        lines.feed(b"one\\ntw")   # ["one"]
        lines.feed(b"o\\n")       # ["two"]
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._max = max_line

    def feed(self, data: bytes) -> list[str]:
        *lines, self._partial = (self._partial + self._decoder.decode(data)).split("\n")
        out = [piece for line in lines for piece in self._pieces(line)]
        while len(self._partial) >= self._max:
            out.append(self._partial[:self._max])
            self._partial = self._partial[self._max:]
        return out

    def end(self) -> list[str]:
        """What is left once the stream has ended."""
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        return self._pieces(rest) if rest else []

    def _pieces(self, line: str) -> list[str]:
        return [line[i:i + self._max] for i in range(0, len(line), self._max)] or [""]


async def forward(stream: asyncio.StreamReader, emit: Callable[[str], None]) -> None:
    """Hand each line of ``stream`` to ``emit`` until the stream ends. A failure of ``emit``
    is logged once and the stream is still read to its end."""
    lines, failed = LineSplitter(), False
    while True:
        data = await stream.read(CHUNK)
        batch = lines.feed(data) if data else lines.end()
        for line in batch:
            try:
                emit(line)
            except Exception:
                if not failed:
                    failed = True
                    log.exception("a container's output could not be handed on; the rest of "
                                  "it is still read, so that the container can end")
        if not data:
            return
