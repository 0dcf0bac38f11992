"""A container's stdout and stderr, read in bounded pieces and handed on as lines.

Whatever a container prints, reading it never fails and never holds more than `CHUNK` bytes
plus one partial line: a line longer than `MAX_LINE` characters is handed on in pieces of that
length, and one that never ends is handed on when the stream does. Reading must go on to the
end of the stream, or the container would block on a full pipe and never exit.

A line ends at ``\n``, ``\r\n`` or a lone ``\r``, as Modal's output ends them: a progress bar
(tqdm's) rewrites its line after a ``\r``, and each of its states is handed on when the next
begins, keeping its ``\r``, so that a terminal can draw it over the last one
(`ketch.output`), rather than all of them at once when the bar finally prints a newline.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
from collections.abc import Callable

log = logging.getLogger("ketch")

CHUNK = 1 << 16
MAX_LINE = 1 << 16
_ENDS = re.compile("\r\n|\n|\r")


class LineSplitter:
    """Bytes in, lines out (without their newline), none over `MAX_LINE` characters.

    Example::

        lines = LineSplitter()
        lines.feed(b"one\\ntw")   # ["one"]
        lines.feed(b"o\\n")       # ["two"]
        lines.feed(b"\\r 10%\\r")  # [" 10%\\r"]: drawn over by the next
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._max = max_line

    def feed(self, data: bytes) -> list[str]:
        text = self._partial + self._decoder.decode(data)
        out: list[str] = []
        start = 0
        for end in _ENDS.finditer(text):
            if end.group() == "\r" and end.end() == len(text):
                break  # a "\n" may follow in the next piece
            line = text[start:end.start()] + ("\r" if end.group() == "\r" else "")
            start = end.end()
            if line != "\r":  # a bar's first "\r" ends nothing worth showing
                out.extend(self._pieces(line))
        self._partial = text[start:]
        while len(self._partial) >= self._max:
            out.append(self._partial[:self._max])
            self._partial = self._partial[self._max:]
        return out

    def end(self) -> list[str]:
        """What is left once the stream has ended."""
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        return self._pieces(rest) if rest not in ("", "\r") else []

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
