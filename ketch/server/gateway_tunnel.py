"""An upgrade (a WebSocket) through the gateway, where the connection is not handed over.

The upgrade request goes to the container over a connection of its own, without the proxy
credentials and with its target rewritten as for any request; the container's answer comes
back as it is. On ``101 Switching Protocols`` the gateway then copies bytes both ways until
either side closes, or until the function's timeout, when both are closed. Any other answer
ends the client's connection after it (what follows on it may not reach the container
unchecked).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from ..protocol.handoff import CREDENTIALS, NO_ANSWER
from .upstream import CHUNK, CONNECT_S

if TYPE_CHECKING:
    from .gateway_front import Front

NOT_TUNNELLED = CREDENTIALS | {"host", "proxy-authorization"}


async def tunnel(front: Front, port: int, target: str, timeout_s: float) -> int:
    """Relay ``front``'s upgrade to the container serving it on ``port``; the status the
    container answered (502 or 504 if none), once the connection is over."""
    assert front.head is not None
    end = front.buffer.find(b"\r\n\r\n") + 4
    lines = [f"{front.head.method} {target} HTTP/1.1", "host: 127.0.0.1",
             *(f"{k}: {v}" for k, v in front.head.headers if k not in NOT_TUNNELLED)]
    try:
        async with asyncio.timeout(CONNECT_S):
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
    except (OSError, TimeoutError) as exc:
        front.answer(502, f"the container did not answer: {exc}\n")
        return 502
    up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + front.buffer[end:])
    try:
        async with asyncio.timeout(timeout_s):
            answer = await up_reader.readuntil(b"\r\n\r\n")
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        up_writer.close()
        front.answer(504, NO_ANSWER.format(timeout_s))
        return 504
    status = int(answer.split(b" ", 2)[1])
    reader = asyncio.StreamReader(limit=CHUNK)
    protocol = asyncio.StreamReaderProtocol(reader)
    front.switch_to(protocol, b"")
    writer = asyncio.StreamWriter(front.transport, protocol, reader, asyncio.get_running_loop())
    writer.write(answer)
    try:
        async with asyncio.timeout(timeout_s):
            if status == 101:
                await _both_ways(reader, writer, up_reader, up_writer)
            else:
                await _copy(up_reader, writer, _length(answer))
    except TimeoutError:
        pass
    finally:
        up_writer.close()
        writer.close()
    return status


async def _both_ways(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
    """Until either side closes."""
    copies = [asyncio.ensure_future(_copy(reader, up_writer)),
              asyncio.ensure_future(_copy(up_reader, writer))]
    try:
        await asyncio.wait(copies, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for copy in copies:
            copy.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await copy


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                left: int | None = None) -> None:
    """``left`` bytes (None: to the end of the stream)."""
    with contextlib.suppress(OSError):
        while left is None or left > 0:
            data = await reader.read(CHUNK if left is None else min(left, CHUNK))
            if not data:
                return
            writer.write(data)
            await writer.drain()
            if left is not None:
                left -= len(data)


def _length(head: bytes) -> int | None:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value)
    return None
