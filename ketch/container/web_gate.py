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
    route,
)
from .web_back import send_back

if TYPE_CHECKING:
    from .web_handoff import Handoff

HTTP_STRIPPED = frozenset(n.encode() for n in CREDENTIALS | HOP_BY_HOP)
WS_STRIPPED = frozenset(n.encode() for n in CREDENTIALS | {"proxy-authorization"})
CREDENTIAL_NAMES = frozenset(n.encode() for n in CREDENTIALS)


class Gate:
    """The ASGI app of one handed connection: ``app`` behind the rules of ``grant``."""

    def __init__(self, app: Any, grant: Grant, handoff: Handoff) -> None:
        self.app = app
        self.grant = grant
        self.handoff = handoff

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
            else:
                await send_back(scope, receive, send, self.handoff, self.grant)
            return
        has_body, headers, raw_path = admitted
        scope["headers"] = headers
        if raw_path is not None:
            scope["raw_path"] = raw_path
            scope["path"] = unquote(raw_path.decode("latin-1"))
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        if full:  # a request that came back through the gateway: it waits here
            await self.handoff.room(self.grant.capacity)
        await Request(self, scope, receive, send, has_body).run()

    def _admit(self, scope: dict[str, Any]) -> tuple[bool, list[Any], bytes | None] | None:
        """None if the request is not for this connection's endpoint and credentials; else
        whether it has a body, the headers the app sees, and its path if not the client's."""
        grant = self.grant
        stripped = HTTP_STRIPPED if scope["type"] == "http" else WS_STRIPPED
        host: bytes | None = None
        hosts = 0
        credentials: dict[str, str] = {}
        kept = []
        has_body = False
        for name, value in scope["headers"]:
            if name == b"host":
                host, hosts = value, hosts + 1
            elif name == b"content-length" or name == b"transfer-encoding":
                has_body = True
            if name in stripped:
                if name in CREDENTIAL_NAMES:
                    credentials[name.decode()] = value.decode("latin-1")
                continue
            kept.append((name, value))
        raw_path = scope.get("raw_path") or scope["path"].encode()
        label, by_host, path = route((host or b"").decode("latin-1"), raw_path, grant.domain)
        if hosts > 1 or label != grant.label or by_host != grant.by_host:
            return None
        if grant.credentials is not None and fingerprint(credentials) != grant.credentials:
            return None
        if grant.method:
            path = b"/" + grant.method.encode() + path
        return has_body, kept, None if path is raw_path else path

    async def _websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Until the app ends it, or the function's timeout closes it."""
        tally, loop = self.handoff.tally, asyncio.get_running_loop()
        started, task = loop.time(), asyncio.current_task()
        accepted, timed_out = False, False

        def expire() -> None:
            nonlocal timed_out
            timed_out = True
            if task is not None:
                task.cancel()

        async def sending(message: dict[str, Any]) -> None:
            nonlocal accepted
            accepted = accepted or message["type"] == "websocket.accept"
            await send(message)

        tally.begin()
        timer = loop.call_later(self.grant.timeout_s, expire)
        try:
            await self.app(scope, receive, sending)
        except asyncio.CancelledError:
            if not timed_out or task is None:
                raise
            task.uncancel()
            reason = f"the function's timeout of {self.grant.timeout_s:g} s"
            await send({"type": "websocket.close", "code": 1001, "reason": reason})
        finally:
            timer.cancel()
            tally.end(self.grant.label, 101 if accepted else 403, loop.time() - started)


class Request:
    """One HTTP request through the gate: its body's limits, its answer's deadline, its count."""

    def __init__(self, gate: Gate, scope: dict[str, Any], receive: Any, send: Any,
                 has_body: bool) -> None:
        self.gate, self.scope, self._receive, self._send = gate, scope, receive, send
        self.loop = asyncio.get_running_loop()
        self.started = self.loop.time()
        self.status = 500
        self.begun = False  # the app's answer has begun
        self.answered = False  # the gate answered instead: the app's messages are dropped
        self.timed_out = False
        # bytes the body may still have; None: it is whole
        self.body_left: int | None = gate.grant.max_body if has_body else None
        self.task = asyncio.current_task()

    async def run(self) -> None:
        grant = self.gate.grant
        tally = self.gate.handoff.tally
        tally.begin()
        timer = self.loop.call_later(grant.timeout_s, self._expire)
        try:
            if self._declares_too_much():
                await self.answer(413, TOO_LARGE.format(grant.max_body / 2**20))
                return
            await self.gate.app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            if not self.timed_out or self.task is None:
                raise
            self.task.uncancel()
            if not self.begun:
                await self.answer(504, NO_ANSWER.format(grant.timeout_s))
        finally:
            timer.cancel()
            tally.end(grant.label, self.status, self.loop.time() - self.started)

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
        body = text.encode()
        await self._send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await self._send({"type": "http.response.body", "body": body})

    def _expire(self) -> None:
        if not self.begun and self.task is not None:
            self.timed_out = True
            self.task.cancel()
