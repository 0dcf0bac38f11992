"""`Tunnel`: where on this machine a sandbox's port is reached, as Modal's ``Tunnel``.

ketch relays plain TCP: ``encrypted_ports`` get no TLS of their own (put a TLS-terminating
proxy in front where clients need https), so `url` is an http URL.
"""

from __future__ import annotations

import dataclasses


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
