"""The HTTP gateway: each web endpoint at ``http://<label>.<domain>:<port>/`` (its own host, as
Modal's URLs are, so that an app sees its own root path) and at ``http://<host>:<port>/<label>/``.

A connection's first request head is read and routed by the gateway (`gateway_front`): the
label names a function (`gateway_routes`); a request with a control byte is refused (400), one
for no endpoint 404, one without the proxy token its endpoint requires 401, one whose declared
body is over the limit 413. Then it goes to a ready container of the function with room, or
waits while the autoscaler starts one, or gets 503 (`gateway_capacity`).

Where it can, the gateway then hands the client's socket to that container (`gateway_handoff`),
which answers this request and the ones after it on the connection by itself, holding each to
the same rules; else it proxies each request (`gateway_proxy`) or tunnels an upgrade
(`gateway_tunnel`). See docs/web.md.
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
from ..protocol.container import WebReady
from ..protocol.handoff import TOO_LARGE, Grant, address, fingerprint, route
from .gateway_capacity import Capacity, retry_after
from .gateway_config import Refused, Settings
from .gateway_front import Front, Head
from .gateway_handoff import Channel
from .gateway_proxy import Proxy
from .gateway_routes import UNAUTHORIZED, Routes, answer_s, upstream_target
from .gateway_tunnel import tunnel
from .upstream import problem

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import ContainerState, FunctionState
    from .tls import ServerTls

class Gateway:
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
        self.routes = Routes(control_plane)
        self.capacity = Capacity(control_plane)
        self._channels: dict[str, Channel] = {}

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
        label = self.routes.label_of(fn, method)
        if self.host_urls:
            return f"{self.scheme}://{label}.{self.settings.domain}:{self.port}"
        return f"{self.base_url}/{label}"

    def forget_routes(self) -> None:
        """Apps changed (created, deployed, stopped): find labels afresh."""
        self.routes.forget()

    # -- containers ------------------------------------------------------------------------------

    def attach(self, ct: ContainerState, ready: WebReady) -> None:
        """A container is ready to serve; ``ready.handoff``: its handoff channel, if it has
        one (a name of its own: the gateway gives no other socket its token)."""
        if ready.handoff and ready.handoff.startswith(address(ct.id, "")) \
                and self.settings.handoff and self._server is not None:
            channel = Channel.open(self, ct, ready.handoff)
            if channel is not None:
                self._channels[ct.id] = channel
        self.capacity.wake(self.cp.state.functions[ct.function_id])

    def detached(self, ct: ContainerState, counted: int) -> None:
        """Its channel closed: the container ended (or the gateway is closing). What it
        counted is over, and it takes no more requests, though the worker may not have said
        yet that it ended."""
        self._channels.pop(ct.id, None)
        ct.web_port = 0
        self.capacity.loaded(ct, -counted, {})

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
        try:
            ct = await self.capacity.acquire(fn)
        except Refused as refusal:
            front.answer(refusal.status, refusal.text, retry_after(refusal))
            self.cp.metrics.gateway_request(label, refusal.status, time.monotonic() - started)
            return
        if front.lost:
            self.capacity.release(fn, ct, None)
            return
        channel = self._channels.get(ct.id)
        if (fd is not None and grant is not None and channel is not None
                and channel.hand(fd, bytes(front.buffer), grant)):
            front.let_go()  # the container's request from now on: it reports it (`loaded`)
            return
        if not head.upgrade:
            self.capacity.release(fn, ct, None)
            front.switch_to(self._http())
            return
        target = upstream_target(fn, method, path.decode("latin-1"))
        target += f"?{url.query.decode('latin-1')}" if url.query else ""
        status = 502
        try:
            status = await tunnel(front, ct.port_for(method), target, answer_s(fn))
        finally:
            self.capacity.release(fn, ct, time.monotonic() - started)
            self.cp.metrics.gateway_request(label, status, time.monotonic() - started)

    def _admit(self, head: Head, label: str) -> tuple[FunctionState, str | None]:
        """The endpoint a first request is for, or Refused with the answer it gets."""
        refused = problem(head.target.decode("latin-1"), head.headers)
        if refused:
            raise Refused(400, f"{refused}\n")
        if head.count("host") > 1:
            raise Refused(400, "the request has more than one Host header\n")
        fn, method = self.routes.find(label)
        if fn is None:
            raise Refused(404, f"no web endpoint is labelled {label!r}\n")
        if not self.routes.authorized(fn, dict(head.headers)):
            raise Refused(401, UNAUTHORIZED)
        declared = head.get("content-length")
        limits = self.settings.limits
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body:
            raise Refused(413, TOO_LARGE.format(limits.max_body_mib))
        return fn, method

    def _grant(self, fn: FunctionState, method: str | None, label: str, by_host: bool,
               head: Any, returned: bool) -> Grant | None:
        """What the connection may carry once handed over; None for a web_server, whose own
        server the agent cannot hand a socket to."""
        web = (fn.options.web_methods or {})[method] if method else fn.options.web or {}
        if web["kind"] == "server":
            return None
        limits = self.settings.limits
        return Grant(label=label, by_host=by_host, domain=self.settings.domain, method=method,
                     credentials=fingerprint(dict(head.headers)) if self.routes.needs_token(fn)
                     else None, max_body=limits.max_body, head_s=limits.head_timeout_s,
                     body_s=limits.body_timeout_s, timeout_s=answer_s(fn),
                     capacity=fn.concurrency, returned=returned)


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
