"""A small HTTP/1.1 client for the gateway's hop to containers, with kept-open connections.

Containers are on this machine and speak plain HTTP/1.1 (uvicorn), so a general-purpose client
costs more than the hop itself: this one writes the request whole, reads the response head,
and hands the body on as it arrives (by length, chunked, or to the end of the connection).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

CHUNK = 1 << 16
NO_BODY = frozenset({204, 304})
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes] = field(repr=False)


class Upstream:
    def __init__(self) -> None:
        self._idle: dict[int, list[Connection]] = {}

    async def request(self, port: int, method: str, target: str,
                      headers: list[tuple[str, str]], body: bytes) -> Response:
        try:
            return await self._exchange(port, method, target, headers, body, fresh=False)
        except ConnectionError:  # a kept-open connection the container had closed: once more
            return await self._exchange(port, method, target, headers, body, fresh=True)

    async def _exchange(self, port: int, method: str, target: str,
                        headers: list[tuple[str, str]], body: bytes, fresh: bool) -> Response:
        reader, writer = await self._connection(port, fresh)
        head = [f"{method} {target} HTTP/1.1", "host: 127.0.0.1",
                f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, OSError):
            writer.close()
            raise ConnectionError("the container closed the connection") from None
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        out = [(k.strip().lower(), v.strip()) for k, _, v in
               (line.partition(":") for line in lines[1:] if line)]
        return Response(status, out, self._body(port, method, status, out, reader, writer))

    async def _connection(self, port: int, fresh: bool) -> Connection:
        idle = self._idle.get(port)
        while idle and not fresh:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
        return await asyncio.open_connection("127.0.0.1", port)

    async def _body(self, port: int, method: str, status: int, headers: list[tuple[str, str]],
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                    ) -> AsyncIterator[bytes]:
        fields = dict(headers)
        reusable = fields.get("connection", "").lower() != "close"
        done = False
        try:
            if method == "HEAD" or status in NO_BODY or 100 <= status < 200:
                pass
            elif "content-length" in fields:
                left = int(fields["content-length"])
                while left > 0:
                    data = await reader.read(min(left, CHUNK))
                    if not data:
                        raise ConnectionError("the container closed the connection mid-body")
                    left -= len(data)
                    yield data
            elif "chunked" in fields.get("transfer-encoding", "").lower():
                while True:
                    size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        await reader.readuntil(b"\r\n")  # the (empty) trailer
                        break
                    yield await reader.readexactly(size)
                    await reader.readexactly(2)
            else:
                reusable = False
                while data := await reader.read(CHUNK):
                    yield data
            done = True
        finally:
            if done and reusable:
                self._idle.setdefault(port, []).append((reader, writer))
            else:
                writer.close()

    async def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()
