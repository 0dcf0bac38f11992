"""uvicorn's HTTP/1.1 server protocol (httptools) with a deadline on each request head: the
gateway's, and a web container's on the connections the gateway hands it (`handoff`).

uvicorn closes a kept-open connection that stays idle, but not one that was opened and sent
nothing, nor one that sends its request line and headers a byte at a time (slowloris): each
would hold a socket and a parser for as long as the client likes. Here a request's head must be
whole within ``head_s`` of the connection opening (the first request) or of its first byte (the
next ones, which uvicorn's keep-alive timeout waits for); else the connection is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadDeadlineProtocol(HttpToolsProtocol):
    head_s = 30.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_s, self._head_too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def with_head_deadline(seconds: float) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn, with each request's head due within ``seconds``."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_s": seconds})
