"""The rules of a handed connection, applied to each request on it before the app sees it.

The gateway checked the first request of a connection it handed over (`ketch.protocol.handoff`);
the container's uvicorn reads the ones after it directly from the client, so each request,
the first included, passes this gate: it must be for the same endpoint (Host or path prefix)
with the same proxy credentials, else it goes back to the gateway (`web_back`); the app sees it
without the proxy credentials and hop-by-hop headers, under its own path; its body is held to
the gateway's limits (413, 408); an answer not begun within the function's timeout is 504, and
a WebSocket is closed at the timeout. A request that finds the container at its capacity goes
back too, so that the gateway gives it to a container with room or holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..protocol.handoff import (
    CREDENTIALS,
    HOP_BY_HOP,
    NO_ANSWER,
    TOO_LARGE,
    TOO_SLOW,
    Grant,
    fingerprint,
    host_label,
    route,
)
from .web_back import plain, send_back

if TYPE_CHECKING:
    from .web_handoff import Handoff

HTTP_STRIPPED = frozenset(n.encode() for n in CREDENTIALS | HOP_BY_HOP)
WS_STRIPPED = frozenset(n.encode() for n in CREDENTIALS | {"proxy-authorization"})
CREDENTIAL_NAMES = frozenset(n.encode() for n in CREDENTIALS)


class Gate:
    """The ASGI app of one handed connection: ``app`` behind the rules of ``grant``.

    This is on every request's path, so the common case is kept short: the Host header's
    verdict is kept for the next request with the same one, a path under the connection's
    own prefix is cut without parsing, and headers are copied only when some must go."""

    def __init__(self, app: Any, grant: Grant, handoff: Handoff) -> None:
        self.app = app
        self.grant = grant
        self.handoff = handoff
        self._host: bytes | None = None  # the last Host header seen, and its label
        self._host_label: str | None = None
        self._prefix = b"/" + grant.label.encode()
        self._method = b"/" + grant.method.encode() if grant.method else b""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        admitted = self._admit(scope)
        full = kind == "http" and self.handoff.tally.active >= self.grant.capacity
        if admitted is None or (full and not self.grant.returned):
            if kind == "websocket":  # refused: a WebSocket does not follow other requests
                await send({"type": "websocket.close", "code": 1008})
            elif self.grant.returned:  # the gateway routed it here: never back and forth
                await plain(send, 421, "the request is not for this endpoint\n")
            else:
                await send_back(scope, receive, send, self.handoff, self.grant)
            return
        has_body, headers, raw_path = admitted
        scope["headers"] = headers
        if raw_path is not None:
            scope["raw_path"] = raw_path
            scope["path"] = unquote(raw_path.decode("latin-1"))
        if kind == "websocket":
            await Socket(self, scope, receive, send).run()
            return
        if full:  # a request that came back through the gateway: it waits here
            await self.handoff.room(self.grant.capacity)
        await Request(self, scope, receive, send, has_body).run()

    def _admit(self, scope: dict[str, Any]) -> tuple[bool, list[Any], bytes | None] | None:
        """None if the request is not for this connection's endpoint and credentials; else
        whether it has a body, the headers the app sees, and its path if not the client's."""
        stripped = HTTP_STRIPPED if scope["type"] == "http" else WS_STRIPPED
        headers = scope["headers"]
        host: bytes = b""
        hosts = 0
        has_body = strip = False
        for name, value in headers:
            if name == b"host":
                host, hosts = value, hosts + 1
            elif name in stripped:
                strip = True
            elif name == b"content-length":
                has_body = True
        if hosts > 1:
            return None
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = self._path(host, raw_path)
        if path is None:
            return None
        if strip:
            credentials = {k.decode(): v.decode("latin-1") for k, v in headers
                           if k in CREDENTIAL_NAMES}
            has_body = has_body or any(k == b"transfer-encoding" for k, _ in headers)
            headers = [(k, v) for k, v in headers if k not in stripped]
        else:
            credentials = {}
        if self.grant.credentials is not None and fingerprint(credentials) != self.grant.credentials:
            return None
        return has_body, headers, None if path is raw_path else path

    def _path(self, host: bytes, raw_path: bytes) -> bytes | None:
        """The path the app sees, or None if the request is for another endpoint: as
        `ketch.protocol.handoff.route` decides, with its answers kept."""
        grant = self.grant
        if host != self._host:
            self._host, self._host_label = host, host_label(host.decode("latin-1"), grant.domain)
        if (self._host_label is not None) != grant.by_host:
            return None
        if grant.by_host:
            if self._host_label != grant.label:
                return None
            path = raw_path or b"/"
        else:
            prefix = self._prefix
            if raw_path.startswith(prefix) and raw_path[len(prefix):len(prefix) + 1] in (b"/", b""):
                path = raw_path[len(prefix):] or b"/"
            else:
                label, _, path = route("", raw_path, grant.domain)
                if label != grant.label:
                    return None
        return self._method + path if self._method else path


class Socket:
    """One WebSocket through the gate: closed at the function's timeout, counted."""

    def __init__(self, gate: Gate, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.gate, self.scope, self._receive, self._send = gate, scope, receive, send
        self.started = gate.handoff.loop.time()
        self.task = asyncio.current_task()
        self.accepted = self.timed_out = False

    async def run(self) -> None:
        handoff, grant = self.gate.handoff, self.gate.grant
        handoff.track(self)
        try:
            await self.gate.app(self.scope, self._receive, self.send)
        except asyncio.CancelledError:
            if not self.timed_out or self.task is None:
                raise
            self.task.uncancel()
            reason = f"the function's timeout of {grant.timeout_s:g} s"
            with contextlib.suppress(RuntimeError, OSError):  # unless the app had closed it
                await self._send({"type": "websocket.close", "code": 1001, "reason": reason})
        finally:
            handoff.untrack(self, grant.label, 101 if self.accepted else 403)

    async def send(self, message: dict[str, Any]) -> None:
        self.accepted = self.accepted or message["type"] == "websocket.accept"
        await self._send(message)

    def overdue(self, now: float) -> bool:
        return now - self.started > self.gate.grant.timeout_s

    def expire(self) -> None:
        if self.task is not None:
            self.timed_out = True
            self.task.cancel()


class Request:
    """One HTTP request through the gate: its body's limits, its answer's deadline, its count."""

    __slots__ = ("gate", "scope", "_receive", "_send", "started", "status", "begun", "answered",
                 "timed_out", "body_left", "task")

    def __init__(self, gate: Gate, scope: dict[str, Any], receive: Any, send: Any,
                 has_body: bool) -> None:
        self.gate, self.scope, self._receive, self._send = gate, scope, receive, send
        self.started = gate.handoff.loop.time()
        self.status = 500
        self.begun = False  # the app's answer has begun
        self.answered = False  # the gate answered instead: the app's messages are dropped
        self.timed_out = False
        # bytes the body may still have; None: it is whole
        self.body_left: int | None = gate.grant.max_body if has_body else None
        self.task = asyncio.current_task()

    async def run(self) -> None:
        handoff, grant = self.gate.handoff, self.gate.grant
        handoff.track(self)
        try:
            if self._declares_too_much():
                await self.answer(413, TOO_LARGE.format(grant.max_body / 2**20))
                return
            await self.gate.app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            if not self.timed_out or self.task is None:
                raise
            self.task.uncancel()
            await self.answer(504, NO_ANSWER.format(grant.timeout_s))
        finally:
            handoff.untrack(self, grant.label, self.status)

    def overdue(self, now: float) -> bool:
        return not self.begun and now - self.started > self.gate.grant.timeout_s

    def expire(self) -> None:
        if not self.begun and self.task is not None:
            self.timed_out = True
            self.task.cancel()

    def _declares_too_much(self) -> bool:
        if self.body_left is None:
            return False
        declared = next((v for k, v in self.scope["headers"] if k == b"content-length"), b"")
        return declared.isdigit() and int(declared) > self.gate.grant.max_body

    async def receive(self) -> dict[str, Any]:
        if self.answered:
            return {"type": "http.disconnect"}
        if self.body_left is None:
            return await self._receive()  # type: ignore[no-any-return]
        grant = self.gate.grant
        try:
            async with asyncio.timeout_at(self.started + grant.body_s):
                message: dict[str, Any] = await self._receive()
        except TimeoutError:
            await self.answer(408, TOO_SLOW.format(grant.body_s))
            return {"type": "http.disconnect"}
        self.body_left -= len(message.get("body", b""))
        if self.body_left < 0:
            await self.answer(413, TOO_LARGE.format(grant.max_body / 2**20))
            return {"type": "http.disconnect"}
        if not message.get("more_body"):
            self.body_left = None
        return message

    async def send(self, message: dict[str, Any]) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.begun = True
            self.status = message["status"]
        await self._send(message)

    async def answer(self, status: int, text: str) -> None:
        """The gate's own answer, if the app's has not begun; the connection closes after."""
        if self.begun or self.answered:
            return
        self.answered, self.status = True, status
        await plain(self._send, status, text)
