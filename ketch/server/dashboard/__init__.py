"""The web dashboard of a control plane, and its ``/metrics``, on a port of their own.

Not on the gateway's port: there every first path segment is a web endpoint's label, which an
app may choose freely. ``ketch server`` serves it on ``--dashboard-port`` (7079), ``ketch
run``'s embedded control plane on any free port, and prints its sign-in link.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..control_plane import ControlPlane
    from ..tls import ServerTls


class Dashboard:
    """Example::

        await control_plane.dashboard.start("127.0.0.1", 7079)
        print(control_plane.dashboard.base_url)  # http://127.0.0.1:7079
    """

    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.launch_key = secrets.token_urlsafe(24)  # signs in whoever this process shows it
        self.host = "127.0.0.1"
        self.port = 0
        self.scheme = "http"
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def launch_link(self) -> str:
        """A link that signs its opener in with this control plane's launch key."""
        return f"{self.base_url}/signin?key={self.launch_key}"

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    tls: ServerTls | None = None) -> None:
        """Serve on host:port (0: any free one); HTTPS with ``tls``."""
        if self._task is not None:
            return
        import uvicorn

        from .pages import build

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.host, self.port = host, sock.getsockname()[1]
        self.scheme = "https" if tls else "http"
        # an open log stream must not hold a shutdown up: it is cut after a second
        self._server = uvicorn.Server(uvicorn.Config(
            build(self.cp, self.launch_key), log_level="warning", lifespan="off",
            timeout_graceful_shutdown=1, ssl_certfile=tls.cert if tls else None,
            ssl_keyfile=tls.key if tls else None))
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait([self._task], timeout=5)
