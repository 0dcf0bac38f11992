"""The gateway's own path for a request: it reads the request, sends it to the container over a
kept-open HTTP/1.1 connection (`upstream`) and streams the answer back.

This serves what cannot be handed to a container (`gateway_handoff`): connections over TLS,
`web_server` endpoints (their own server, not the agent's), containers the gateway cannot pass
a socket to, and ``handoff = false``. It is an ASGI app run by the gateway's uvicorn protocol.

The request goes to the container as the client sent it: its target still percent-encoded (a
decoded ``%0D%0A`` would end the request line and smuggle a second request onto the kept-open
connection), refused with 400 if it or a header holds a control byte (`upstream.problem`),
without the proxy credentials and hop-by-hop headers, its body within the gateway's limits.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..protocol.handoff import CREDENTIALS, HOP_BY_HOP, NO_ANSWER, route
from .gateway_capacity import retry_after
from .gateway_config import Refused, read_body
from .gateway_routes import UNAUTHORIZED, upstream_target
from .gateway_routes import answer_s as answer_of
from .upstream import Upstream, problem

if TYPE_CHECKING:
    from .gateway import Gateway

# Not for the app's code: hop-by-hop headers, the body's length (the upstream sets its own) and
# the proxy credentials, which are the caller's and not the endpoint's to read.
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"} | CREDENTIALS
# Not passed back: hop-by-hop headers. The gateway adds no Date or Server header of its own: a
# client sees the container's, one of each, as from a single origin server.
NOT_RETURNED = HOP_BY_HOP | {"host"}


class Proxy:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.upstream = Upstream()

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Each request of a proxied connection, as a bare ASGI app."""
        if scope["type"] != "http":
            return
        gateway = self.gateway
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        label, _, path = route(headers.get("host", ""), raw, gateway.settings.domain)
        fn, method = gateway.routes.find(label)
        query = scope["query_string"].decode("latin-1")
        target = path.decode("latin-1")
        target = upstream_target(fn, method, target) if fn is not None else target
        target += f"?{query}" if query else ""
        try:
            refused = problem(target, list(headers.items()))
            if refused:
                raise Refused(400, f"{refused}\n")
            if fn is None:
                raise Refused(404, f"no web endpoint is labelled {label!r}\n")
            if not gateway.routes.authorized(fn, headers):
                raise Refused(401, UNAUTHORIZED)
            body = await read_body(receive, gateway.settings.limits, headers.get("content-length"))
        except Refused as answer:  # its body may be unread: the connection cannot carry more
            await plain(send, answer.status, answer.text, [(b"connection", b"close")])
            return
        await self._forward(fn, method, scope["method"], target, headers, body, send)

    async def _forward(self, fn: Any, endpoint: str | None, method: str, target: str,
                       headers: dict[str, str], body: bytes, send: Any) -> None:
        """``endpoint``: the class method whose web endpoint it is, if any; ``method``: the
        request's."""
        gateway = self.gateway
        try:
            ct = await gateway.capacity.acquire(fn)
        except Refused as refusal:
            await plain(send, refusal.status, refusal.text,
                        [(k.encode(), v.encode()) for k, v in retry_after(refusal)])
            return
        started = time.monotonic()
        try:
            forwarded = [(k, v) for k, v in headers.items() if k not in NOT_FORWARDED]
            answer_s = answer_of(fn)
            try:
                upstream = await self.upstream.request(ct.port_for(endpoint), method, target,
                                                       forwarded, body, answer_s)
            except TimeoutError:
                await plain(send, 504, NO_ANSWER.format(answer_s))
                return
            except (OSError, ValueError) as exc:  # the container went away mid-request
                await plain(send, 502, f"the container did not answer: {exc}\n")
                return
            await send({"type": "http.response.start", "status": upstream.status,
                        "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                    for k, v in upstream.headers if k not in NOT_RETURNED]})
            async for chunk in upstream.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gateway.capacity.release(fn, ct, time.monotonic() - started)


async def plain(send: Any, status: int, text: str,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
