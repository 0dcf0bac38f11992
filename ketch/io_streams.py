"""The stdio of a sandbox's processes, as Modal's ``modal.io_streams``.

`StreamReader` reads a process's stdout or stderr as it arrives: ``read()`` for everything up
to the end, or iteration for chunks as they come (lines, when the process was started with
``bufsize=1``). `StreamWriter` feeds its stdin: ``write`` buffers, ``drain`` sends, and
``write_eof`` closes it once what was written has been sent.
"""

from __future__ import annotations

import codecs
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from . import exception
from .client import CURRENT, send
from .protocol import client as protocol
from .synchronizer import aio, aio_iter

T = TypeVar("T", str, bytes)

# One request waits at most this long for output, then asks again.
POLL_S = 50.0


class StreamReader(Generic[T]):
    """A process's stdout or stderr.

    Example::

        p = sb.exec("python", "-c", "print('hi'); print('there')", bufsize=1)
        for line in p.stdout:      # "hi\\n", then "there\\n"
            print(line, end="")
        everything = sb.stdout.read()   # the sandbox's own command's output, to its end
    """

    def __init__(self, sandbox_id: str, process: int, stream: str, text: bool = True,
                 by_line: bool = False, piped: bool = True) -> None:
        self._sandbox_id = sandbox_id
        self._process = process
        self._client = CURRENT.get()  # the client= of the call that made it, if any
        self._stream = stream
        self._text = text
        self._by_line = by_line
        self._piped = piped
        self._cursor = 0
        self._eof = not piped
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: Any = "" if text else b""

    @property
    def file_descriptor(self) -> int:
        return 1 if self._stream == "stdout" else 2

    async def _next_chunk(self) -> T | None:
        """The next piece of output (decoded when text); None at the end."""
        while not self._eof:
            try:
                answer = await send(protocol.ProcessOutput(
                    sandbox_id=self._sandbox_id, process=self._process,
                    stream=self._stream,  # type: ignore[arg-type]  # "stdout" or "stderr"
                    cursor=self._cursor, timeout=POLL_S))
            except exception.NotFoundError:  # a sandbox without a command has no output
                self._eof = True
                break
            self._cursor = answer.cursor
            self._eof = answer.eof
            data = answer.data
            if data:
                return self._decoder.decode(data) if self._text else data  # type: ignore[return-value]
        if self._text:
            tail = self._decoder.decode(b"", final=True)
            if tail:
                return tail  # type: ignore[return-value]
        return None

    async def _next_item(self) -> T | None:
        if not self._by_line:
            return await self._next_chunk()
        newline = "\n" if self._text else b"\n"
        while newline not in self._pending:
            chunk = await self._next_chunk()
            if chunk is None:
                rest, self._pending = self._pending, self._pending[:0]
                return rest or None
            self._pending += chunk
        line, _, self._pending = self._pending.partition(newline)
        return line + newline  # type: ignore[no-any-return]

    @aio
    async def read(self) -> T:
        """Everything up to the end of the stream (waits for the process to close it)."""
        parts = [self._pending]
        self._pending = self._pending[:0]
        while (chunk := await self._next_chunk()) is not None:
            parts.append(chunk)
        return ("" if self._text else b"").join(parts)  # type: ignore[no-any-return, attr-defined, return-value]

    @aio_iter
    async def _iterate(self) -> AsyncIterator[list[T]]:
        while (item := await self._next_item()) is not None:
            yield [item]

    def __iter__(self) -> Any:
        if not self._piped:
            raise exception.InvalidError("this stream was not piped (stdout=StreamType.PIPE)")
        return iter(self._iterate())

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate.aio()  # type: ignore[no-any-return]


class StreamWriter:
    """A process's stdin.

    Example::

        p = sb.exec("python", "-c", "print(input().upper())")
        p.stdin.write("hello\\n")
        p.stdin.write_eof()
        p.stdin.drain()
        assert p.stdout.read() == "HELLO\\n"
    """

    def __init__(self, sandbox_id: str, process: int) -> None:
        self._sandbox_id = sandbox_id
        self._process = process
        self._client = CURRENT.get()
        self._buffer = bytearray()
        self._eof = False
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview | str) -> None:
        """Add ``data`` to what the next `drain` sends (str is sent as UTF-8)."""
        if self._eof:
            raise exception.InvalidError("stdin was closed with write_eof(); nothing more can "
                                         "be written")
        if isinstance(data, str):
            data = data.encode()
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"stdin takes str or bytes, not {type(data).__name__}")
        self._buffer += data

    def write_eof(self) -> None:
        """Close stdin once what was written has been sent by `drain`."""
        self._eof = True

    @aio
    async def drain(self) -> None:
        """Send what was written (and the end of the stream, after `write_eof`)."""
        if self._closed or (not self._buffer and not self._eof):
            return
        data, self._buffer = bytes(self._buffer), bytearray()
        await send(protocol.ProcessStdin(sandbox_id=self._sandbox_id, process=self._process,
                                         data=data, eof=self._eof))
        self._closed = self._eof
