"""Serving a web endpoint from a container: uvicorn on a port of 127.0.0.1, for the gateway.

The function's kind decides the app: `fastapi_endpoint` wraps the function in a one-route
FastAPI app, `asgi_app` and `wsgi_app` call it for theirs, and `web_server` calls it to start
a server of its own on its port, which is then waited for. A class's web methods are one app,
each under ``/<method>``, but for its `web_server` methods: each starts its own server, which
the gateway reaches at its own port (`WebReady.servers`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ..partial import run_hooks
from ..protocol import container as wire
from ..protocol.blocking_peer import BlockingPeer

STALL_CHECK_S = 0.5


def build_app(kind: str, web: dict[str, Any], function: Callable[..., Any]) -> Any:
    if kind == "fastapi":
        from fastapi import FastAPI

        docs = bool(web.get("docs"))
        api = FastAPI(docs_url="/docs" if docs else None, redoc_url=None,
                      openapi_url="/openapi.json" if docs else None)
        api.add_api_route("/", function, methods=[web.get("method", "GET")])
        return api
    return function()


def class_app(methods: dict[str, dict[str, Any]], method_of: Callable[[str], Any]) -> Any:
    """One app for a class's web methods, each under ``/<method name>``."""
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from uvicorn.middleware.wsgi import WSGIMiddleware

    routes = []
    for name, web in methods.items():
        app = build_app(web["kind"], web, method_of(name))
        routes.append(Mount(f"/{name}", app=WSGIMiddleware(app) if web["kind"] == "wsgi" else app))
    return Starlette(routes=routes)


def _httptools(config: Any) -> bool:
    """Whether uvicorn parses with httptools, which the handed connections' protocol needs
    (`web_handoff`); with h11 alone the gateway proxies each request instead."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return False
    return issubclass(config.http_protocol_class, HttpToolsProtocol)


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the web server did not listen on port {port} within {timeout:g} s "
                    "(startup_timeout)"
                ) from None
            time.sleep(0.05)


class WebRunner:
    """Serves until ``until_stopped`` returns (the agent's inbox says stop)."""

    def __init__(self, peer: BlockingPeer, web: dict[str, Any], function: Callable[..., Any],
                 until_stopped: Callable[[], object]) -> None:
        """``web`` is the endpoint's settings; for a class, ``{"kind": "class", "methods":
        {name: settings}}`` and ``function`` gives the instance's bound method by name."""
        self.peer = peer
        self.web = web
        self.function = function
        self.until_stopped = until_stopped
        self.ready = threading.Event()  # set as it tells the control plane that it serves

    def run(self, enter: list[Callable[[], Any]], exit: list[Callable[[], Any]]) -> None:
        run_hooks(enter)
        ports = self._start_servers()
        servers = {name: port for name, port in ports.items() if name is not None}
        kind = self.web["kind"]
        if kind == "server" or (kind == "class" and not self._app_methods()):  # no app of ours
            self.ready.set()
            self.peer.send(wire.WEB_READY, wire.WebReady(port=next(iter(ports.values())),
                                                         servers=servers))
            self.until_stopped()
        else:
            asyncio.run(self._serve(servers))
        run_hooks(exit)

    def _start_servers(self) -> dict[str | None, int]:
        """Start the function's web server, or each of the class's web_server methods (by
        name), and wait until each listens; their ports."""
        if self.web["kind"] == "server":
            wanted: dict[str | None, dict[str, Any]] = {None: self.web}
        elif self.web["kind"] == "class":
            wanted = {name: web for name, web in self.web["methods"].items()
                      if web["kind"] == "server"}
        else:
            wanted = {}
        ports: dict[str | None, int] = {}
        for name, web in wanted.items():
            self.function() if name is None else self.function(name)()
            ports[name] = int(web["port"])
            wait_for_port(ports[name], float(web.get("startup_timeout", 5.0)))
        return ports

    def _app_methods(self) -> dict[str, dict[str, Any]]:
        """A class's web methods that its app serves (all but its web_server ones)."""
        return {name: web for name, web in self.web["methods"].items() if web["kind"] != "server"}

    async def _serve(self, servers: dict[str, int]) -> None:
        import uvicorn

        if self.web["kind"] == "class":
            app = class_app(self._app_methods(), self.function)
        else:
            app = build_app(self.web["kind"], self.web, self.function)
        # made for TCP explicitly, so that asyncio sets TCP_NODELAY on its connections: without
        # it every reply on a kept-open connection waits ~40 ms for a delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        # No access log (nothing below warning is shown) and no X-Forwarded-For trusted: on a
        # handed connection the client's own address is the scope's, and on a proxied one the
        # gateway passes the client's headers on, which the client could have set.
        config = uvicorn.Config(app, log_level="warning", lifespan="auto", access_log=False,
                                proxy_headers=False,
                                interface="wsgi" if self.web["kind"] == "wsgi" else "auto")
        server = uvicorn.Server(config)
        threading.Thread(target=self._stop_on_shutdown, args=(server,), daemon=True).start()
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.005)
        handoff = None
        if server.started and _httptools(config):
            from .web_handoff import Handoff

            handoff = Handoff(server, os.environ["KETCH_CONTAINER_ID"],
                              os.environ["KETCH_CONTAINER_TOKEN"])
            threading.Thread(target=self._watch_stalls, args=(handoff,), daemon=True).start()
        self.ready.set()
        self.peer.send(wire.WEB_READY, wire.WebReady(
            port=sock.getsockname()[1], handoff=handoff.listen() if handoff else None,
            servers=servers))
        await serving
        if handoff is not None:
            handoff.close()

    def _watch_stalls(self, handoff: Any) -> None:
        """A request that blocks the event loop (a blocking call in an ``async def``) past the
        function's timeout stops every request of the container, and no timer of that loop can
        end it: the container exits, as one whose input ran past its timeout does."""
        while True:
            time.sleep(STALL_CHECK_S)
            why = handoff.stalled(time.monotonic())
            if why:
                self.peer.send(wire.EXITING, wire.Exiting(reason=why, requeue_others=True))
                sys.stderr.write(f"ketch: {why}\n")
                os._exit(1)

    def _stop_on_shutdown(self, server: Any) -> None:
        self.until_stopped()
        server.should_exit = True
