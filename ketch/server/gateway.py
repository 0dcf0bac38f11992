"""The HTTP gateway: web endpoints at ``http://<host>:<port>/<label>/…``.

Requests for a label go to a ready container of its function with room (its ``@concurrent``
capacity), least busy first. With none, the request waits while the autoscaler (which counts
waiting requests as queued work) starts containers; it is answered 503 with Retry-After once
it has waited `QUEUE_S`, or at once when `MAX_WAITING` requests already wait. Responses stream
through as the container sends them.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING, Any

from .. import exception
from .wakeup import Wakeup

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import ContainerState, FunctionState

QUEUE_S = 60.0
MAX_WAITING = 2000
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailers", "transfer-encoding", "upgrade", "host"})
PROXY_HEADERS = (("modal-key", "modal-secret"), ("ketch-key", "ketch-secret"))


class Busy(Exception):
    pass


class Gateway:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.port = 0
        self.host = "127.0.0.1"
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._client: Any = None
        self.wakeups: dict[str, Wakeup] = {}

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._task is not None:
            return
        import httpx
        import uvicorn

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.host, self.port = host, sock.getsockname()[1]
        self._client = httpx.AsyncClient(timeout=None, limits=httpx.Limits(max_connections=None))
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
            await self._client.aclose()

    def url_of(self, fn: FunctionState, method: str | None = None) -> str:
        web = fn.options["web_methods"][method] if method else fn.options["web"]
        return f"{self.base_url}/{web['label']}"

    def wake(self, fn: FunctionState) -> None:
        self.wakeups.setdefault(fn.id, Wakeup()).wake()

    # -- requests ----------------------------------------------------------------------------

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from starlette.requests import Request
        from starlette.responses import PlainTextResponse, Response

        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        label, _, rest = request.url.path.lstrip("/").partition("/")
        fn, method = self._find(label)
        response: Response
        if fn is None:
            response = PlainTextResponse(f"no web endpoint is labelled {label!r}\n", 404)
        elif not self._authorized(fn, request):
            response = PlainTextResponse(
                "this endpoint needs a proxy token in the Modal-Key and Modal-Secret headers "
                "(make one with `ketch token new --proxy`)\n", 401)
        else:
            response = await self._forward(fn, request, f"{method}/{rest}" if method else rest)
        await response(scope, receive, send)

    def _find(self, label: str) -> tuple[FunctionState | None, str | None]:
        """The function serving ``label`` (a deployed one first), and the class method."""
        found = []
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
        return chosen[-1] if chosen else (None, None)

    def _authorized(self, fn: FunctionState, request: Any) -> bool:
        settings = [fn.options.get("web") or {}, *(fn.options.get("web_methods") or {}).values()]
        if not any(web.get("requires_proxy_auth") for web in settings):
            return True
        for key, secret in PROXY_HEADERS:
            if key in request.headers:
                try:
                    self.cp.tokens.verify(request.headers[key], request.headers.get(secret, ""),
                                          kind="proxy")
                    return True
                except exception.Error:
                    return False
        return False

    async def _forward(self, fn: FunctionState, request: Any, rest: str) -> Any:
        from starlette.responses import PlainTextResponse, StreamingResponse

        try:
            ct = await self._acquire(fn)
        except Busy:
            return PlainTextResponse("the endpoint is at capacity; try again shortly\n", 503,
                                     headers={"Retry-After": "5"})
        started = time.monotonic()
        url = f"http://127.0.0.1:{ct.web_port}/{rest}"
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        try:
            upstream = await self._client.send(
                self._client.build_request(request.method, url, params=request.query_params,
                                           headers=headers, content=request.stream()),
                stream=True)
        except Exception as exc:  # the container went away mid-request
            self._release(fn, ct, started)
            return PlainTextResponse(f"the container did not answer: {exc}\n", 502)

        async def body() -> Any:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                await upstream.aclose()
                self._release(fn, ct, started)

        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(body(), status_code=upstream.status_code, headers=out_headers)

    async def _acquire(self, fn: FunctionState) -> ContainerState:
        deadline = time.monotonic() + QUEUE_S
        if fn.web_waiting >= MAX_WAITING:
            raise Busy
        fn.web_waiting += 1
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
