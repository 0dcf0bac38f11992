"""The gateway's end of each web container's handoff channel (`ketch.protocol.handoff`).

A connection handed to a container is answered by the container's uvicorn alone, request
after request; the gateway is out of its path. It still knows what the connection costs: the
agent reports (``load``) its requests in flight and the ones finished, with their statuses and
durations, which the gateway adds to the container's ``web_active`` (what the autoscaler and
the choice of a container count), to the function's time per input and to its metrics. Until
the agent has taken a handed connection, its first request counts as in flight.

A request the agent sends back (``back``) comes in as a new connection (`gateway_front`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING

from ..protocol import handoff as wire

if TYPE_CHECKING:
    from .dispatch import ContainerState
    from .gateway import Gateway

log = logging.getLogger(__name__)


class Channel:
    def __init__(self, gateway: Gateway, ct: ContainerState, sock: socket.socket) -> None:
        self.gateway = gateway
        self.ct = ct
        self.sock = sock
        self.sent = 0  # connections handed over
        self.received = 0  # of them, taken by the agent (its last report)
        self.active = 0  # requests in flight on handed connections (its last report)
        asyncio.get_running_loop().add_reader(sock, self._readable)

    @classmethod
    def open(cls, gateway: Gateway, ct: ContainerState, name: str) -> Channel | None:
        """Connect to the agent at ``name``; None (and the gateway proxies) if it cannot be
        reached from here (a container on another node)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(wire.sockaddr(name))
            wire.send(sock, wire.Hello(token=ct.token))
        except OSError as exc:
            log.info("container %s: no handoff channel at %s (%s); proxying its requests",
                     ct.id, name, exc)
            sock.close()
            return None
        sock.setblocking(False)
        return cls(gateway, ct, sock)

    def counted(self) -> int:
        """What this channel adds to the container's ``web_active``."""
        return self.sent - self.received + self.active

    def hand(self, fd: int, data: bytes, grant: wire.Grant) -> bool:
        """Pass the client's socket and the bytes read from it; False if the agent cannot take
        it now (the caller serves the connection itself)."""
        try:
            wire.send(self.sock, wire.Conn(head=data, grant=grant), fd)
        except OSError:  # a full socket buffer, or the container went away
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        if self.sock.fileno() < 0:
            return
        asyncio.get_running_loop().remove_reader(self.sock)
        self.sock.close()
        self.gateway.detached(self.ct, self.counted())
        self.sent = self.received = self.active = 0

    def _readable(self) -> None:
        for message in wire.pending(self.sock):
            if message is None:
                self.close()
                return
            kind, body, fds = message
            if kind == wire.LOAD:
                self._load(body)
            if kind == wire.BACK and len(fds) == 1:
                self.gateway.take_back(fds.pop())
            for fd in fds:
                socket.close(fd)

    def _load(self, load: wire.Load) -> None:
        before = self.counted()
        self.received = min(load.received, self.sent)
        self.active = max(0, load.active)
        self.gateway.capacity.loaded(self.ct, self.counted() - before, load.labels)
