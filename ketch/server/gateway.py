"""The HTTP gateway: web endpoints at ``http://<host>:<port>/<label>/…``.

Requests for a label go to a ready container of its function with room (its ``@concurrent``
capacity), least busy first. With none, the request waits while the autoscaler (which counts
waiting requests as queued work) starts containers; it is answered 503 with Retry-After once
it has waited `QUEUE_S`, or at once when `MAX_WAITING` requests already wait. Responses stream
through as the container sends them.

The request goes to the container as the client sent it: its target still percent-encoded (a
decoded ``%0D%0A`` would end the request line and smuggle a second request onto the kept-open
connection), refused with 400 if it or a header holds a control byte (`upstream.problem`),
without the proxy credentials and hop-by-hop headers, its body within `gateway_limits`.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING, Any

from .. import config, exception
from .gateway_limits import Limits, Refused, read_body
from .upstream import Upstream, problem
from .wakeup import Wakeup

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import ContainerState, FunctionState
    from .tls import ServerTls

QUEUE_S = 60.0
ANSWER_S = 300.0  # how long a container may take to answer, for functions without a timeout
MAX_WAITING = 2000
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailers", "transfer-encoding", "upgrade", "host"})
PROXY_HEADERS = (("modal-key", "modal-secret"), ("ketch-key", "ketch-secret"))
# Not for the app's code: hop-by-hop headers, the body's length (the upstream sets its own) and
# the proxy credentials, which are the caller's and not the endpoint's to read.
NOT_FORWARDED = HOP_BY_HOP | {"content-length"} | {name for pair in PROXY_HEADERS for name in pair}
# Not passed back: hop-by-hop headers, and the upstream's Date, as the gateway's server sends
# its own (a second Date breaks clients); the gateway sends no Server header of its own.
NOT_RETURNED = HOP_BY_HOP | {"date"}


class Busy(Exception):
    pass


class Gateway:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.port = 0
        self.host = "127.0.0.1"
        self.scheme = "http"
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._upstream = Upstream()
        self._routes: dict[str, tuple[FunctionState, str | None]] = {}
        self.wakeups: dict[str, Wakeup] = {}
        self.limits = Limits()

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    tls: ServerTls | None = None) -> None:
        """Serve on host:port; HTTPS with ``tls`` (`ketch.server.tls`)."""
        if self._task is not None:
            return
        import uvicorn

        from .gateway_http import with_head_deadline

        self.limits = Limits.from_settings(config.settings().get("gateway"))  # before binding
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # NODELAY
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise exception.InvalidError(
                f"the web gateway cannot listen on {host}:{port}: {exc.strerror} (is another "
                "`ketch serve` or `ketch server` using it?). Stop that one, or give this one "
                "another port: KETCH_GATEWAY_PORT=N (0: any free port), or `ketch server "
                "--gateway-port N`"
            ) from None
        self.host, self.port = host, sock.getsockname()[1]
        protocol = with_head_deadline(self.limits.head_timeout_s)
        self._server = uvicorn.Server(uvicorn.Config(
            self.cp.metrics.gateway(self.asgi), http=protocol, log_level="warning",
            lifespan="off", interface="asgi3", server_header=False,
            ssl_certfile=tls.cert if tls else None, ssl_keyfile=tls.key if tls else None))
        self.scheme = "https" if tls else "http"
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
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        rest = raw.lstrip(b"/").partition(b"/")[2].decode("latin-1")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        fn, method = self._find(label)
        query = scope["query_string"].decode("latin-1")
        target = (f"/{method}/{rest}" if method else f"/{rest}") + (f"?{query}" if query else "")
        refused = problem(target, list(headers.items()))
        try:
            if refused:
                raise Refused(400, f"{refused}\n")
            if fn is None:
                raise Refused(404, f"no web endpoint is labelled {label!r}\n")
            if not self._authorized(fn, headers):
                raise Refused(401, "this endpoint needs a proxy token in the Modal-Key and "
                              "Modal-Secret headers (make one with `ketch token new --proxy`)\n")
            body = await read_body(receive, self.limits, headers.get("content-length"))
        except Refused as answer:  # its body may be unread: the connection cannot carry more
            await _plain(send, answer.status, answer.text, [(b"connection", b"close")])
            return
        await self._forward(fn, scope["method"], target, headers, body, send)

    def _find(self, label: str) -> tuple[FunctionState | None, str | None]:
        """The function serving ``label`` (a deployed one first), and the class method."""
        cached = self._routes.get(label)
        if cached is not None and cached[0].id in self.cp.state.functions and not (
                self.cp.state.apps[cached[0].app_id].stopped):
            return cached
        found: list[tuple[FunctionState, str | None]] = []
        for fn in self.cp.state.functions.values():
            if fn.params is not None or self.cp.state.apps[fn.app_id].stopped:
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
                    token = self.cp.tokens.verify(headers[key], headers.get(secret, ""),
                                                  kind="proxy")
                except exception.Error:
                    return False
                return token.may_use(self.cp.state.app_of(fn).environment)  # scoped or not
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
            answer_s = fn.options.get("timeout") or ANSWER_S
            try:
                upstream = await self._upstream.request(ct.web_port, method, target, forwarded,
                                                        body, answer_s)
            except TimeoutError:
                await _plain(send, 504, f"the container did not answer within {answer_s:g} s\n")
                return
            except (OSError, ValueError) as exc:  # the container went away mid-request
                await _plain(send, 502, f"the container did not answer: {exc}\n")
                return
            await send({"type": "http.response.start", "status": upstream.status,
                        "headers": [(k.encode("latin-1"), v.encode("latin-1"))
                                    for k, v in upstream.headers if k not in NOT_RETURNED]})
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


async def _plain(send: Any, status: int, text: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
