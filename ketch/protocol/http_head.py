"""uvicorn's HTTP/1.1 server protocol (httptools) with a deadline on each request head: the
gateway's, and a web container's on the connections the gateway hands it (`handoff`).

uvicorn closes a kept-open connection that stays idle, but not one that was opened and sent
nothing, nor one that sends its request line and headers a byte at a time (slowloris): each
would hold a socket and a parser for as long as the client likes. Here a request's head must be
whole within ``head_s`` of the connection opening (the first request) or of its first byte (the
next ones, which uvicorn's keep-alive timeout waits for); else the connection is closed, by a
sweep over the server's connections a few times per ``head_s`` (at most every second).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadDeadlineProtocol(HttpToolsProtocol):
    head_s = 30.0
    _head_since: float | None = None  # when the head being read began (None: none is)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._head_since = self.loop.time()
        _sweep_soon(self.loop, self.connections, self.head_s)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_since is None:
            self._head_since = self.loop.time()

    def on_headers_complete(self) -> None:
        self._head_since = None
        super().on_headers_complete()

    def head_overdue(self, now: float) -> bool:
        return self._head_since is not None and now - self._head_since > self.head_s


# One sweep per set of connections (a uvicorn server's), rather than a timer per request: a
# timer set and cancelled on every request costs more than the request's parsing.
_sweeps: dict[int, asyncio.TimerHandle] = {}


def _sweep_soon(loop: asyncio.AbstractEventLoop, connections: set[Any], head_s: float) -> None:
    key = id(connections)
    if key not in _sweeps:
        _sweeps[key] = loop.call_later(min(1.0, head_s / 4), _sweep, loop, connections, head_s)


def _sweep(loop: asyncio.AbstractEventLoop, connections: set[Any], head_s: float) -> None:
    """Close the connections whose head is overdue; again in a while, while there are any."""
    del _sweeps[id(connections)]
    now = loop.time()
    for connection in list(connections):
        if isinstance(connection, HeadDeadlineProtocol) and connection.head_overdue(now):
            if not connection.transport.is_closing():
                connection.transport.close()
    if connections:
        _sweep_soon(loop, connections, head_s)


def with_head_deadline(seconds: float) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn, with each request's head due within ``seconds``."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_s": seconds})
