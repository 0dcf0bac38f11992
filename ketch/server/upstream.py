"""A small HTTP/1.1 client for the gateway's hop to containers, with kept-open connections.

Containers are on this machine and speak plain HTTP/1.1 (uvicorn), so a general-purpose client
costs more than the hop itself: this one writes the request whole, reads the response head,
and hands the body on as it arrives (by length, chunked, or to the end of the connection).

A request is written only if no part of it can end its line or a header early (`problem`): on a
kept-open connection, a line break smuggled into one client's target or header would make a
second request whose answer the next client gets. Each wait on the container is bounded by a
`timeout`, so a container that stops answering holds a gateway request no longer than that.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field

CHUNK = 1 << 16
NO_BODY = frozenset({204, 304})
CONNECT_S = 10.0
Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
TARGET = re.compile(r"/[\x21-\x7e\x80-\xff]*")  # as the client sent it: no space, no control
NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # a token (RFC 9110)
VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")  # no control bytes but the tab


def problem(target: str, headers: list[tuple[str, str]]) -> str | None:
    """What in this request may not be written to a container as it is, or None."""
    if not TARGET.fullmatch(target):
        return f"the request target {target!r} holds a space or control byte: percent-encode it"
    for name, value in headers:
        if not NAME.fullmatch(name):
            return f"the header name {name!r} is not an HTTP token"
        if not VALUE.fullmatch(value):
            return f"the {name} header holds a control byte (only tabs may be in a value)"
    return None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes] = field(repr=False)


class Upstream:
    def __init__(self) -> None:
        self._idle: dict[int, list[Connection]] = {}

    async def request(self, port: int, method: str, target: str,
                      headers: list[tuple[str, str]], body: bytes, timeout: float) -> Response:
        """Send a request; each wait (connecting, the head, each part of the body) ends with
        TimeoutError after ``timeout`` s. ValueError if `problem` finds something in it."""
        refused = problem(target, headers)
        if not NAME.fullmatch(method):
            refused = f"the method {method!r} is not an HTTP token"
        if refused:
            raise ValueError(f"refusing to send the request upstream: {refused}")
        try:
            return await self._exchange(port, method, target, headers, body, timeout, False)
        except ConnectionError:  # a kept-open connection the container had closed: once more
            return await self._exchange(port, method, target, headers, body, timeout, True)

    async def _exchange(self, port: int, method: str, target: str, headers: list[tuple[str, str]],
                        body: bytes, timeout: float, fresh: bool) -> Response:
        reader, writer = await self._connection(port, fresh)
        head = [f"{method} {target} HTTP/1.1", "host: 127.0.0.1",
                f"content-length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        try:
            async with asyncio.timeout(timeout):
                raw = await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:  # first: TimeoutError is an OSError, and must not be resent
            writer.close()
            raise
        except (asyncio.IncompleteReadError, OSError):
            writer.close()
            raise ConnectionError("the container closed the connection") from None
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        out = [(k.strip().lower(), v.strip()) for k, _, v in
               (line.partition(":") for line in lines[1:] if line)]
        return Response(status, out,
                        self._body(port, method, status, out, reader, writer, timeout))

    async def _connection(self, port: int, fresh: bool) -> Connection:
        idle = self._idle.get(port)
        while idle and not fresh:
            reader, writer = idle.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
        async with asyncio.timeout(CONNECT_S):
            return await asyncio.open_connection("127.0.0.1", port)

    async def _body(self, port: int, method: str, status: int, headers: list[tuple[str, str]],
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float
                    ) -> AsyncIterator[bytes]:
        fields = dict(headers)
        reusable = fields.get("connection", "").lower() != "close"
        done = False

        def read(part: Awaitable[bytes]) -> Awaitable[bytes]:
            return asyncio.wait_for(part, timeout)

        try:
            if method == "HEAD" or status in NO_BODY or 100 <= status < 200:
                pass
            elif "content-length" in fields:
                left = int(fields["content-length"])
                while left > 0:
                    data = await read(reader.read(min(left, CHUNK)))
                    if not data:
                        raise ConnectionError("the container closed the connection mid-body")
                    left -= len(data)
                    yield data
            elif "chunked" in fields.get("transfer-encoding", "").lower():
                while True:
                    size = int((await read(reader.readline())).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        await read(reader.readuntil(b"\r\n"))  # the (empty) trailer
                        break
                    yield await read(reader.readexactly(size))
                    await read(reader.readexactly(2))
            else:
                reusable = False
                while data := await read(reader.read(CHUNK)):
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
