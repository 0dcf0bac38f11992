"""A connection to the gateway until its first request head is whole; then the gateway decides.

Every accepted connection starts here. The head is parsed by httptools, as uvicorn parses it,
within ``head_timeout_s`` and `MAX_HEAD` bytes; reading then pauses, and the gateway
(`Gateway.first_request`) answers it itself (an error), hands the socket to a container
(`gateway_handoff`), tunnels an upgrade (`gateway_tunnel`), or gives the connection, with the
bytes read so far, to its own uvicorn protocol, which proxies each request (`gateway_proxy`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httptools

from ..protocol.handoff import MAX_HEAD

if TYPE_CHECKING:
    from .gateway import Gateway


class _Enough(Exception):
    """Raised from the parser's callback once the head is whole: the body is not ours."""


@dataclass
class Head:
    method: str
    target: bytes  # as the client sent it, percent-encoded
    headers: list[tuple[str, str]]  # names in lower case, values as sent (latin-1)
    upgrade: bool

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def count(self, name: str) -> int:
        return sum(1 for k, _ in self.headers if k == name)


class HeadReader:
    """Feeds httptools until the end of the first head."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.done = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value.rstrip(b" \t")))  # as uvicorn keeps them

    def on_headers_complete(self) -> None:
        self.done = True
        raise _Enough

    def feed(self, data: bytes) -> Head | None:
        """The head once whole, else None; ValueError if it is not HTTP/1.x."""
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            if not self.done:
                raise
        except httptools.HttpParserError as exc:
            raise ValueError(f"malformed request: {exc}") from None
        if not self.done:
            return None
        return Head(self.parser.get_method().decode("latin-1"), self.url,
                    [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers],
                    bool(self.parser.should_upgrade()))


class Front(asyncio.Protocol):
    """One connection, until `Gateway.first_request` takes it over."""

    transport: asyncio.Transport

    def __init__(self, gateway: Gateway, returned: bool = False) -> None:
        self.gateway = gateway
        self.returned = returned  # a request a container sent back (`handoff.BACK`)
        self.reader = HeadReader()
        self.buffer = bytearray()
        self.head: Head | None = None
        self.lost = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        seconds = self.gateway.settings.limits.head_timeout_s
        self._timer = asyncio.get_running_loop().call_later(seconds, self._too_slow)

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            return
        self.buffer += data
        try:
            self.head = self.reader.feed(data)
        except ValueError as exc:
            self.answer(400, f"{exc}\n")
            return
        if self.head is None:
            if len(self.buffer) > MAX_HEAD:
                self.answer(431, f"the request head is over {MAX_HEAD} bytes\n")
            return
        self._disarm()
        self.transport.pause_reading()
        self.gateway.first_request(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._disarm()

    def answer(self, status: int, text: str, extra: list[tuple[str, str]] | None = None) -> None:
        """Answer with a line of text and close (the request's body may be unread)."""
        self._disarm()
        body = text.encode()
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                 "content-type: text/plain; charset=utf-8", f"content-length: {len(body)}",
                 "connection: close", *(f"{k}: {v}" for k, v in extra or [])]
        if not self.transport.is_closing():
            self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            self.transport.close()

    def socket_fd(self) -> int | None:
        """The client's socket, if it may be handed on (plain TCP, not TLS, still open)."""
        if self.lost or self.transport.get_extra_info("sslcontext") is not None:
            return None
        sock = self.transport.get_extra_info("socket")
        return None if sock is None else int(sock.fileno())

    def let_go(self) -> None:
        """After the socket was handed on: close this process's descriptor, not the connection
        (no shutdown; the container holds it now)."""
        self.transport.abort()

    def switch_to(self, protocol: asyncio.Protocol, data: bytes | None = None) -> None:
        """Give the connection to ``protocol``, with ``data`` (default: all that was read)."""
        self.transport.set_protocol(protocol)
        protocol.connection_made(self.transport)
        data = bytes(self.buffer) if data is None else data
        if data:
            protocol.data_received(data)
        self.transport.resume_reading()

    def _too_slow(self) -> None:
        self._timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 408: "Request Timeout",
            413: "Content Too Large", 421: "Misdirected Request", 431: "Request Header Fields Too Large",
            502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
