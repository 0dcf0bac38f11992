"""The HTTP gateway: each web endpoint at ``http://<label>.<domain>:<port>/`` (its own host, as
Modal's URLs are, so that an app sees its own root path) and at ``http://<host>:<port>/<label>/``.

A connection's first request head is read and routed by the gateway (`gateway_front`): the
label names a function (a deployed one first); a request with a control byte is refused (400),
one for no endpoint 404, one without the proxy token its endpoint requires 401, one whose
declared body is over the limit 413. Then it goes to a ready container of the function with
room (its ``@concurrent`` capacity), least busy first. With none, the request waits while the
autoscaler (which counts waiting requests as queued work) starts containers; it is answered 503
with Retry-After once it has waited `QUEUE_S`, or at once when `MAX_WAITING` requests already
wait.

Where it can, the gateway then hands the client's socket to that container (`gateway_handoff`),
which answers this request and the ones after it on the connection by itself, holding each to
the same rules; else it proxies each request (`gateway_proxy`) or tunnels an upgrade
(`gateway_tunnel`).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time
from typing import TYPE_CHECKING, Any

import httptools

from .. import config, exception
from ..protocol.handoff import PROXY_HEADERS, TOO_LARGE, Grant, fingerprint, route
from .gateway_config import Refused, Settings
from .gateway_front import Front, Head
from .gateway_handoff import Channel
from .gateway_proxy import ANSWER_S, Proxy
from .gateway_tunnel import tunnel
from .upstream import problem
from .wakeup import Wakeup

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import ContainerState, FunctionState
    from .tls import ServerTls

QUEUE_S = 60.0
MAX_WAITING = 2000


class Gateway:
    UNAUTHORIZED = ("this endpoint needs a proxy token in the Modal-Key and Modal-Secret headers "
                    "(make one with `ketch token new --proxy`)\n")
    BUSY = "the endpoint is at capacity; try again shortly\n"

    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.port = 0
        self.host = "127.0.0.1"
        self.scheme = "http"
        self.settings = Settings()
        self.host_urls = False  # whether url_of gives <label>.<domain> URLs
        self._server: asyncio.Server | None = None
        self._proxy = Proxy(self)
        self._http: Any = None  # makes the uvicorn protocol of a proxied connection
        self._http_state: Any = None
        self._routes: dict[str, tuple[FunctionState, str | None]] = {}
        self._channels: dict[str, Channel] = {}
        self.wakeups: dict[str, Wakeup] = {}

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    tls: ServerTls | None = None) -> None:
        """Serve on host:port; HTTPS with ``tls`` (`ketch.server.tls`)."""
        if self._server is not None:
            return
        self.settings = Settings.from_table(config.settings().get("gateway"))  # before binding
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
        self.scheme = "https" if tls else "http"
        self._http = self._uvicorn_protocol()
        self.host_urls = self.settings.domain_given or (
            _loopback(host) and await _resolves(f"ketch-check.{self.settings.domain}"))
        self._server = await asyncio.get_running_loop().create_server(
            lambda: Front(self), sock=sock, ssl=tls.context() if tls else None, backlog=1024)

    def _uvicorn_protocol(self) -> Any:
        import uvicorn
        from uvicorn.server import ServerState

        from ..protocol.http_head import with_head_deadline

        settings = uvicorn.Config(
            self.cp.metrics.gateway(self._proxy.asgi), log_level="warning", lifespan="off",
            interface="asgi3", server_header=False, date_header=False, ws="none",
            http=with_head_deadline(self.settings.limits.head_timeout_s))
        settings.load()
        self._http_state = ServerState()
        protocol: Any = settings.http_protocol_class
        return functools.partial(protocol, config=settings, server_state=self._http_state,
                                 app_state={})

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for channel in list(self._channels.values()):
            channel.close()
        for connection in list(self._http_state.connections):
            connection.shutdown()
        if self._http_state.tasks:
            await asyncio.wait(list(self._http_state.tasks), timeout=5)
        await self._proxy.upstream.close()

    def url_of(self, fn: FunctionState, method: str | None = None) -> str:
        web = fn.options["web_methods"][method] if method else fn.options["web"]
        if self.host_urls:
            return f"{self.scheme}://{web['label']}.{self.settings.domain}:{self.port}"
        return f"{self.base_url}/{web['label']}"

    def wake(self, fn: FunctionState) -> None:
        self.wakeups.setdefault(fn.id, Wakeup()).wake()

    # -- containers ------------------------------------------------------------------------------

    def attach(self, ct: ContainerState, address: str | None) -> None:
        """A container is ready to serve; ``address``: its handoff channel, if it has one."""
        if address and self.settings.handoff and self._server is not None:
            channel = Channel.open(self, ct, address)
            if channel is not None:
                self._channels[ct.id] = channel
        self.wake(self.cp.functions[ct.function_id])

    def detached(self, ct: ContainerState, counted: int) -> None:
        """Its channel closed (the container ended): what it counted is over."""
        self._channels.pop(ct.id, None)
        self.loaded(ct, -counted, {})

    def loaded(self, ct: ContainerState, change: int, labels: dict[str, Any]) -> None:
        """A container's report of the requests on connections handed to it."""
        ct.web_active += change
        fn = self.cp.functions.get(ct.function_id)
        done = sum(sum(tally["codes"].values()) for tally in labels.values())
        if ct.web_active == 0 and (change or done):
            ct.idle_since = time.monotonic()
        if fn is None:
            return
        if done:
            fn.observe(sum(tally["seconds"] for tally in labels.values()) / done)
        for label, tally in labels.items():
            self.cp.metrics.gateway_tally(label, tally)
        if change < 0:
            self.wake(fn)

    def take_back(self, fd: int) -> None:
        """A request a container sent back: route it as a new connection."""
        sock = socket.socket(fileno=fd)
        loop = asyncio.get_running_loop()
        asyncio.ensure_future(loop.connect_accepted_socket(lambda: Front(self, True), sock))

    # -- the first request of a connection -----------------------------------------------------

    def first_request(self, front: Front) -> None:
        asyncio.ensure_future(self._first(front))

    async def _first(self, front: Front) -> None:
        started = time.monotonic()
        head = front.head
        assert head is not None
        label = ""
        try:
            url = httptools.parse_url(head.target)
            label, by_host, path = route(head.get("host") or "", url.path, self.settings.domain)
            fn, method = self._admit(head, label)
        except (Refused, httptools.HttpParserInvalidURLError) as refusal:
            status, text = (refusal.status, refusal.text) if isinstance(refusal, Refused) else (
                400, f"the request target {head.target!r} is not a path\n")
            front.answer(status, text)
            self.cp.metrics.gateway_request(label if status != 404 else "", status,
                                            time.monotonic() - started)
            return
        grant = self._grant(fn, method, label, by_host, head, front.returned)
        fd = front.socket_fd() if grant is not None and self.settings.handoff else None
        if fd is None and not head.upgrade:
            front.switch_to(self._http())
            return
        ct = await self.acquire(fn)
        if ct is None or front.lost:
            if ct is not None:
                self.release(fn, ct, None)
            else:
                front.answer(503, self.BUSY, [("retry-after", "5")])
                self.cp.metrics.gateway_request(label, 503, time.monotonic() - started)
            return
        channel = self._channels.get(ct.id)
        if (fd is not None and grant is not None and channel is not None
                and channel.hand(fd, bytes(front.buffer), grant)):
            front.let_go()  # the container's request from now on: it reports it (`loaded`)
            return
        if not head.upgrade:
            self.release(fn, ct, None)
            front.switch_to(self._http())
            return
        target = (f"/{method}" if method else "") + path.decode("latin-1")
        target += f"?{url.query.decode('latin-1')}" if url.query else ""
        status = 502
        try:
            status = await tunnel(front, ct, target, self.answer_s(fn))
        finally:
            self.release(fn, ct, time.monotonic() - started)
            self.cp.metrics.gateway_request(label, status, time.monotonic() - started)

    def _admit(self, head: Head, label: str) -> tuple[FunctionState, str | None]:
        """The endpoint a first request is for, or Refused with the answer it gets."""
        refused = problem(head.target.decode("latin-1"), head.headers)
        if refused:
            raise Refused(400, f"{refused}\n")
        if head.count("host") > 1:
            raise Refused(400, "the request has more than one Host header\n")
        fn, method = self.find(label)
        if fn is None:
            raise Refused(404, f"no web endpoint is labelled {label!r}\n")
        if not self.authorized(fn, dict(head.headers)):
            raise Refused(401, self.UNAUTHORIZED)
        declared = head.get("content-length")
        limits = self.settings.limits
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body:
            raise Refused(413, TOO_LARGE.format(limits.max_body_mib))
        return fn, method

    def _grant(self, fn: FunctionState, method: str | None, label: str, by_host: bool,
               head: Any, returned: bool) -> Grant | None:
        """What the connection may carry once handed over; None for a web_server, whose own
        server the agent cannot hand a socket to."""
        web = fn.options["web_methods"][method] if method else fn.options["web"]
        if web["kind"] == "server":
            return None
        limits = self.settings.limits
        return Grant(label=label, by_host=by_host, domain=self.settings.domain, method=method,
                     credentials=fingerprint(dict(head.headers)) if self._needs_token(fn)
                     else None, max_body=limits.max_body, head_s=limits.head_timeout_s,
                     body_s=limits.body_timeout_s, timeout_s=self.answer_s(fn),
                     capacity=fn.concurrency, returned=returned)

    # -- routing and capacity ----------------------------------------------------------------

    def find(self, label: str) -> tuple[FunctionState | None, str | None]:
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

    def _needs_token(self, fn: FunctionState) -> bool:
        settings = [fn.options.get("web") or {}, *(fn.options.get("web_methods") or {}).values()]
        return any(web.get("requires_proxy_auth") for web in settings)

    def authorized(self, fn: FunctionState, headers: dict[str, str]) -> bool:
        if not self._needs_token(fn):
            return True
        for key, secret in PROXY_HEADERS:
            if key in headers:
                try:
                    self.cp.tokens.verify(headers[key], headers.get(secret, ""), kind="proxy")
                    return True
                except exception.Error:
                    return False
        return False

    def answer_s(self, fn: FunctionState) -> float:
        return float(fn.options.get("timeout") or ANSWER_S)

    async def acquire(self, fn: FunctionState) -> ContainerState | None:
        """A ready container with room, counted as busy with one more request; None (503) past
        the queue's bound or its time."""
        ct = self._pick(fn)
        if ct is not None:  # the common case: no waiting, nothing for the autoscaler to do
            ct.web_active += 1
            return ct
        deadline = time.monotonic() + QUEUE_S
        if fn.web_waiting >= MAX_WAITING:
            return None
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
                    return None
                await self.wakeups.setdefault(fn.id, Wakeup()).wait(min(remaining, 1.0))
        finally:
            fn.web_waiting -= 1
            fn.web_waiting_since.remove(began)

    def _pick(self, fn: FunctionState) -> ContainerState | None:
        capacity = fn.concurrency
        ready = [ct for ct in fn.containers.values()
                 if ct.web_port and not ct.stopping and ct.web_active < capacity]
        return min(ready, key=lambda ct: ct.web_active) if ready else None

    def release(self, fn: FunctionState, ct: ContainerState, seconds: float | None) -> None:
        """The request ``acquire`` counted is over (``seconds``: how long it took, if it ran)."""
        ct.web_active -= 1
        if seconds is not None:
            fn.observe(seconds)
        if ct.web_active == 0:
            ct.idle_since = time.monotonic()
        self.wake(fn)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def _resolves(name: str) -> bool:
    """Whether this machine resolves ``name`` (``*.localhost``: to the loopback address)."""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(name, None)
    except OSError:
        return False
    return all(ipaddress.ip_address(entry[4][0]).is_loopback for entry in found)
