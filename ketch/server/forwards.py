"""Ports of a running function's container, reached from outside it: ``ketch.forward`` (Modal's
``modal.forward``). Each is a `Tunnel` on this machine to the port the container listens on; a
container may forward only its own ports, and its tunnels close when it exits.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import exception
from ..protocol import client as protocol
from ..protocol.worker import Worker
from .auth import Identity
from .state import State
from .tunnels import Tunnel


class Forwards:
    """Example::

        answer = await forwards.forward_open(ForwardOpen(container_id="ct-1", port=8000),
                                             caller)   # Address(host=..., port=...)
        await forwards.forward_close(ForwardClose(container_id="ct-1", port=8000), caller)
    """

    def __init__(self, state: State, worker: Worker, address: Callable[[], str]) -> None:
        """``address``: where the control plane listens, once it does (its host is where
        tunnels listen)."""
        self.state = state
        self.worker = worker
        self.address = address
        self.open: dict[str, dict[int, Tunnel]] = {}

    async def forward_open(self, req: protocol.ForwardOpen, caller: Identity
                           ) -> protocol.Address:
        container_id, port = req.container_id, req.port
        if container_id not in self.state.containers:
            raise exception.InvalidError(
                "forward() exposes a port of the function's container it runs in: call it "
                "inside a function, not in the program that runs the app")
        if not 0 < port < 65536:
            raise exception.InvalidError(f"forward() takes a TCP port number, not {port!r}")
        address = self.worker.container_address(container_id)
        if address is None:
            raise exception.UnimplementedError(
                "forward() reaches containers on the control plane's own machine; on the ray "
                "backend run the server as a web_server() function instead")
        tunnels = self.open.setdefault(container_id, {})
        if port in tunnels:
            raise exception.AlreadyExistsError(f"port {port} of this container is forwarded "
                                               "already: use the Tunnel forward() gave")
        tunnels[port] = await Tunnel.open(self._bind(), address, port, lambda: None)
        return protocol.Address(host=tunnels[port].host, port=tunnels[port].port)

    async def forward_close(self, req: protocol.ForwardClose, caller: Identity
                            ) -> protocol.Empty:
        tunnel = self.open.get(req.container_id, {}).pop(req.port, None)
        if tunnel is not None:
            tunnel.close()
        return protocol.Empty()

    def container_gone(self, container_id: str) -> None:
        for tunnel in self.open.pop(container_id, {}).values():
            tunnel.close()

    def _bind(self) -> str:
        address = self.address()
        return "127.0.0.1" if address.startswith("unix:") else address.rsplit(":", 1)[0]
