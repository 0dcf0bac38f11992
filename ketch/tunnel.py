"""`Tunnel`: where on this machine a sandbox's (or, with `forward`, a function container's) port
is reached, as Modal's ``Tunnel``.

ketch relays plain TCP: ``encrypted_ports`` get no TLS of their own (put a TLS-terminating
proxy in front where clients need https), so `url` is an http URL.
"""

from __future__ import annotations

import dataclasses

from .context import is_local
from .protocol import client as protocol


@dataclasses.dataclass(frozen=True)
class Tunnel:
    """Example::

        sb = ketch.Sandbox.create("python", "-m", "http.server", "8000",
                                  encrypted_ports=[8000], app=app)
        tunnel = sb.tunnels()[8000]
        urllib.request.urlopen(tunnel.url)
    """

    host: str
    port: int
    unencrypted_host: str = ""
    unencrypted_port: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def tls_socket(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def tcp_socket(self) -> tuple[str, int]:
        return self.host, self.port


class forward:
    """Reach port ``port`` of this function's container from outside it, for the length of a
    ``with`` (or ``async with``) block: Modal's ``modal.forward``.

    Example::

        @app.function()
        def serve():
            subprocess.Popen(["python", "-m", "http.server", "8000"])
            with ketch.forward(8000) as tunnel:
                print("serving at", tunnel.url)
                time.sleep(3600)

    The port is relayed by the control plane at a port of its own machine (plain TCP:
    ``unencrypted`` and ``h2_enabled`` change nothing, see `Tunnel`).
    """

    def __init__(self, port: int, *, unencrypted: bool = False, h2_enabled: bool = False,
                 client: object = None) -> None:
        import os

        from . import exception

        if is_local():
            raise exception.InvalidError(
                "forward() exposes a port of the container a function runs in: call it inside "
                "the function (for a sandbox's ports, pass encrypted_ports= to Sandbox.create)")
        self.port = port
        self.unencrypted = unencrypted
        self.container_id = os.environ["KETCH_CONTAINER_ID"]

    def _opened(self, answer: protocol.Address) -> Tunnel:
        host, port = answer.host, answer.port
        return Tunnel(host, port, host if self.unencrypted else "",
                      port if self.unencrypted else 0)

    def _open(self) -> protocol.ForwardOpen:
        return protocol.ForwardOpen(container_id=self.container_id, port=self.port,
                                    unencrypted=self.unencrypted)

    def _close(self) -> protocol.ForwardClose:
        return protocol.ForwardClose(container_id=self.container_id, port=self.port)

    def __enter__(self) -> Tunnel:
        from .client import send_blocking

        return self._opened(send_blocking(self._open()))

    def __exit__(self, *_: object) -> None:
        from .client import send_blocking

        send_blocking(self._close())

    async def __aenter__(self) -> Tunnel:
        from .client import send

        return self._opened(await send(self._open()))

    async def __aexit__(self, *_: object) -> None:
        from .client import send

        await send(self._close())
