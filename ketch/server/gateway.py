"""The HTTP gateway: web endpoints at ``http://<host>:<port>/<label>/…``.

Requests for a label go to a ready container of its function with room (its ``@concurrent``
capacity), least busy first. With none, the request waits while the autoscaler (which counts
waiting requests as queued work) starts containers; it is answered 503 with Retry-After once
it has waited `QUEUE_S`, or at once when `MAX_WAITING` requests already wait. Responses stream
through as the container sends them.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from typing import TYPE_CHECKING, Any

from .. import exception
from .upstream import Upstream
from .wakeup import Wakeup

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import ContainerState, FunctionState

QUEUE_S = 60.0
MAX_WAITING = 2000
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailers", "transfer-encoding", "upgrade", "host"})
PROXY_HEADERS = (("modal-key", "modal-secret"), ("ketch-key", "ketch-secret"))
# Not for the app's code: hop-by-hop headers, the body's length (the upstream sets its own) and
# the proxy credentials, which are the caller's and not the endpoint's to read.
NOT_FORWARDED = HOP_BY_HOP | {"content-length"} | {name for pair in PROXY_HEADERS for name in pair}
# Bytes that may not reach the upstream request: they would end its line or a header early and
# let one client's request carry a second one on a pooled connection.
CONTROL = re.compile(rb"[\x00-\x20\x7f]")


class Busy(Exception):
    pass


class Gateway:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.port = 0
        self.host = "127.0.0.1"
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._upstream = Upstream()
        self._routes: dict[str, tuple[FunctionState, str | None]] = {}
        self.wakeups: dict[str, Wakeup] = {}

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._task is not None:
            return
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.host, self.port = host, sock.getsockname()[1]
        config = uvicorn.Config(self.asgi, log_level="warning", lifespan="off", interface="asgi3")
        self._server = uvicorn.Server(config)
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._task is not None:
                await asyncio.wait([self._task], timeout=5)
            await self._upstream.close()

    def url_of(self, fn: FunctionState, method: str | None = None) -> str:
        web = fn.options["web_methods"][method] if method else fn.options["web"]
        return f"{self.base_url}/{web['label']}"

    def wake(self, fn: FunctionState) -> None:
        self.wakeups.setdefault(fn.id, Wakeup()).wake()

    # -- requests ----------------------------------------------------------------------------

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The gateway itself, as a bare ASGI app: it is on every request's path."""
        if scope["type"] != "http":
            return
        label = scope["path"].lstrip("/").partition("/")[0]
        # The target goes upstream as the client sent it (still percent-encoded), never decoded.
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        rest = raw.lstrip(b"/").partition(b"/")[2].decode("latin-1")
        fn, method = self._find(label)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        if CONTROL.search(raw + scope["query_string"]) or any(
                CONTROL.search(k) or b"\r" in v or b"\n" in v or b"\0" in v
                for k, v in scope["headers"]):
            await _plain(send, 400, "the request's target or a header holds control characters\n")
        elif fn is None:
            await _plain(send, 404, f"no web endpoint is labelled {label!r}\n")
        elif not self._authorized(fn, headers):
            await _plain(send, 401, "this endpoint needs a proxy token in the Modal-Key and "
                         "Modal-Secret headers (make one with `ketch token new --proxy`)\n")
        else:
            query = scope["query_string"].decode("latin-1")
            target = f"/{method}/{rest}" if method else f"/{rest}"
            await self._forward(fn, scope["method"], target + (f"?{query}" if query else ""),
                                headers, await _body(receive), send)

    def _find(self, label: str) -> tuple[FunctionState | None, str | None]:
        """The function serving ``label`` (a deployed one first), and the class method."""
        cached = self._routes.get(label)
        if cached is not None and cached[0].id in self.cp.functions and not (
                self.cp.apps[cached[0].app_id].stopped):
            return cached
        found: list[tuple[FunctionState, str | None]] = []
        for fn in self.cp.functions.values():
            if fn.params is not None or self.cp.apps[fn.app_id].stopped:
                continue
            if (fn.options.get("web") or {}).get("label") == label:
                found.append((fn, None))
            for method, web in (fn.options.get("web_methods") or {}).items():
                if web.get("label") == label:
                    found.append((fn, method))
        deployed = [pair for pair in found if pair[0].app_id in self.cp.deployments.versions]
        chosen = deployed or found
        if not chosen:
            return None, None
        self._routes[label] = chosen[-1]
        return chosen[-1]

    def forget_routes(self) -> None:
        """Apps changed (created, deployed, stopped): find labels afresh."""
        self._routes.clear()

    def _authorized(self, fn: FunctionState, headers: dict[str, str]) -> bool:
        settings = [fn.options.get("web") or {}, *(fn.options.get("web_methods") or {}).values()]
        if not any(web.get("requires_proxy_auth") for web in settings):
            return True
        for key, secret in PROXY_HEADERS:
            if key in headers:
                try:
                    self.cp.tokens.verify(headers[key], headers.get(secret, ""), kind="proxy")
                    return True
                except exception.Error:
                    return False
        return False

    async def _forward(self, fn: FunctionState, method: str, target: str,
                       headers: dict[str, str], body: bytes, send: Any) -> None:
        try:
            ct = await self._acquire(fn)
        except Busy:
            await _plain(send, 503, "the endpoint is at capacity; try again shortly\n",
                         [(b"retry-after", b"5")])
            return
        started = time.monotonic()
        try:
            forwarded = [(k, v) for k, v in headers.items() if k not in NOT_FORWARDED]
            try:
                upstream = await self._upstream.request(ct.web_port, method, target, forwarded,
                                                        body)
            except (OSError, ValueError) as exc:  # the container went away mid-request
                await _plain(send, 502, f"the container did not answer: {exc}\n")
                return
            await send({"type": "http.response.start", "status": upstream.status,
                        "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                    for k, v in upstream.headers if k not in HOP_BY_HOP]})
            async for chunk in upstream.body:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self._release(fn, ct, started)

    async def _acquire(self, fn: FunctionState) -> ContainerState:
        ct = self._pick(fn)
        if ct is not None:  # the common case: no waiting, nothing for the autoscaler to do
            ct.web_active += 1
            return ct
        deadline = time.monotonic() + QUEUE_S
        if fn.web_waiting >= MAX_WAITING:
            raise Busy
        fn.web_waiting += 1
        began = time.monotonic()
        fn.web_waiting_since.append(began)  # its wait tells the autoscaler how slow it goes
        try:
            self.cp.sessions.scale(fn)
            while True:
                ct = self._pick(fn)
                if ct is not None:
                    ct.web_active += 1
                    return ct
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Busy
                await self.wakeups.setdefault(fn.id, Wakeup()).wait(min(remaining, 1.0))
        finally:
            fn.web_waiting -= 1
            fn.web_waiting_since.remove(began)

    def _pick(self, fn: FunctionState) -> ContainerState | None:
        capacity = fn.concurrency
        ready = [ct for ct in fn.containers.values()
                 if ct.web_port and not ct.stopping and ct.web_active < capacity]
        return min(ready, key=lambda ct: ct.web_active) if ready else None

    def _release(self, fn: FunctionState, ct: ContainerState, started: float) -> None:
        ct.web_active -= 1
        fn.observe(time.monotonic() - started)
        if ct.web_active == 0:
            ct.idle_since = time.monotonic()
        self.wake(fn)


async def _body(receive: Any) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def _plain(send: Any, status: int, text: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
