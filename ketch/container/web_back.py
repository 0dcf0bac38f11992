"""A request on a handed connection that the gate does not let through, sent back to the
gateway, and its answer relayed to the client.

The request is read whole (within the body limit), written with h11 (which refuses a line
break in any part of it) into one end of a socket pair, and the other end is sent to the
gateway (``handoff.BACK``), which routes it as a new connection: its proxy token checked, to
a container with room, or held, or refused. The answer comes back on this end; it reaches the
client with ``Connection: close``, so that the client's next request comes through the gateway
again, which routes the connection afresh.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

import h11

from ..protocol.handoff import HOP_BY_HOP, NO_ANSWER, TOO_LARGE, Grant

if TYPE_CHECKING:
    from .web_handoff import Handoff

CHUNK = 1 << 16
HOP_BY_HOP_BYTES = frozenset(n.encode() for n in HOP_BY_HOP)
NOT_SENT = HOP_BY_HOP_BYTES | {b"content-length"}


async def send_back(scope: dict[str, Any], receive: Any, send: Any, handoff: Handoff,
                    grant: Grant) -> None:
    body = await _body(receive, grant.max_body)
    if body is None:
        await plain(send, 413, TOO_LARGE.format(grant.max_body / 2**20))
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        handoff.back(theirs.fileno())
    except OSError:  # the gateway's channel closed: the control plane is going away
        ours.close()
        await plain(send, 503, "the gateway is not reachable from this container now\n")
        return
    finally:
        theirs.close()
    reader, writer = await asyncio.open_unix_connection(sock=ours)
    client = h11.Connection(h11.CLIENT)
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    headers = [(k, v) for k, v in scope["headers"] if k not in NOT_SENT]
    headers += [(b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    try:
        writer.write(client.send(h11.Request(method=scope["method"], target=target,
                                             headers=headers))
                     + client.send(h11.Data(data=body)) + client.send(h11.EndOfMessage()))
        await _relay(client, reader, send, grant.timeout_s)
    except (h11.ProtocolError, OSError, asyncio.IncompleteReadError) as exc:
        await plain(send, 502, f"the gateway did not answer the request: {exc}\n")
    except TimeoutError:
        await plain(send, 504, NO_ANSWER.format(grant.timeout_s))
    finally:
        writer.close()


async def _relay(client: h11.Connection, reader: asyncio.StreamReader, send: Any,
                 timeout_s: float) -> None:
    started = False
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            if started:
                data = await reader.read(CHUNK)
            else:
                async with asyncio.timeout(timeout_s):
                    data = await reader.read(CHUNK)
            client.receive_data(data)
        elif isinstance(event, h11.Response):
            started = True
            headers = [(k, v) for k, v in event.headers if k not in HOP_BY_HOP_BYTES]
            await send({"type": "http.response.start", "status": event.status_code,
                        "headers": [*headers, (b"connection", b"close")]})
        elif isinstance(event, h11.Data):
            await send({"type": "http.response.body", "body": bytes(event.data),
                        "more_body": True})
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            await send({"type": "http.response.body", "body": b""})
            return


async def _body(receive: Any, limit: int) -> bytes | None:
    """The whole body, or None past ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(parts)
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        if size > limit:
            return None
        if not message.get("more_body"):
            return b"".join(parts)


async def plain(send: Any, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
