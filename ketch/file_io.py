"""Files inside a running sandbox, as Modal's ``modal.file_io``: what ``sb.open`` returns.

Reads fetch the file when first asked for; writes gather here and reach the sandbox on
``flush`` or ``close``. Each operation runs inside the sandbox, with its limits and view.
"""

from __future__ import annotations

import io
from typing import Any, Generic, TypeVar

from . import exception
from .client import CURRENT
from .sandbox_fs import operation
from .synchronizer import aio

T = TypeVar("T", str, bytes)
MODES = ("r", "rb", "w", "wb", "a", "ab")
CHUNK = 1 << 19


class FileIO(Generic[T]):
    """Example::

        with sb.open("/tmp/notes.txt", "w") as f:
            f.write("hello")
        assert sb.open("/tmp/notes.txt").read() == "hello"
    """

    def __init__(self, sandbox_id: str, path: str, mode: str) -> None:
        if mode not in MODES:
            raise exception.InvalidError(f"sb.open mode {mode!r}: use one of {', '.join(MODES)}")
        self._sandbox_id = sandbox_id
        self._client = CURRENT.get()  # the client= of the call that made it, if any
        self._path = path
        self._mode = mode
        self._binary = "b" in mode
        self._content: io.BytesIO | None = None
        self._pending = bytearray()
        self._append = mode.startswith("a")
        self._closed = False

    def _check(self, reading: bool) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed file")
        if reading != self._mode.startswith("r"):
            raise io.UnsupportedOperation("not readable" if reading else "not writable")

    async def _load(self) -> io.BytesIO:
        if self._content is None:
            data = bytearray()
            while True:
                _, chunk = await operation(self._sandbox_id, {
                    "op": "read", "path": self._path, "offset": len(data), "length": CHUNK})
                data += chunk
                if len(chunk) < CHUNK:
                    break
            self._content = io.BytesIO(bytes(data))
        return self._content

    def _out(self, data: bytes) -> T:
        return data if self._binary else data.decode()  # type: ignore[return-value]

    @aio
    async def read(self, n: int | None = None) -> T:
        self._check(reading=True)
        content = await self._load()
        return self._out(content.read() if n is None or n < 0 else content.read(n))

    @aio
    async def readline(self) -> T:
        self._check(reading=True)
        return self._out((await self._load()).readline())

    @aio
    async def readlines(self) -> list[T]:
        self._check(reading=True)
        return [self._out(line) for line in (await self._load()).readlines()]

    @aio
    async def seek(self, offset: int, whence: int = 0) -> int:
        self._check(reading=True)
        return (await self._load()).seek(offset, whence)

    def write(self, data: T) -> None:
        self._check(reading=False)
        if isinstance(data, str) == self._binary:
            raise TypeError(f"write() takes {'bytes' if self._binary else 'str'} in mode "
                            f"{self._mode!r}")
        self._pending += data.encode() if isinstance(data, str) else data

    @aio
    async def flush(self) -> None:
        if self._mode.startswith("r") or self._closed:
            return
        data, self._pending = bytes(self._pending), bytearray()
        for start in range(0, max(len(data), 1), CHUNK):
            await operation(self._sandbox_id, {"op": "write", "path": self._path,
                                                  "append": self._append},
                               data[start:start + CHUNK])
            self._append = True  # later pieces and flushes add to what is there

    @aio
    async def close(self) -> None:
        if not self._closed:
            await self.flush.aio()
            self._closed = True

    def __enter__(self) -> FileIO[T]:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def __aenter__(self) -> FileIO[T]:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close.aio()
