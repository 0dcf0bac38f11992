"""The agent's end of the handoff channel: client connections the gateway hands over, served by
the container's uvicorn as if it had accepted them itself.

The agent listens on an abstract unix socket (its name goes to the gateway in ``web_ready``)
and takes one channel, whose first message must carry the container's token. Each ``conn``
brings a client's socket and the bytes the gateway already read from it; the socket gets
uvicorn's protocol (with the head deadline, `ketch.protocol.http_head`), which reads those bytes
first, and an app of its own: the endpoint's app behind a `Gate` holding the connection's
grant. The requests on handed connections are counted (`Tally`) and reported every
``LOAD_S`` while the count changes.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
import socket
from bisect import bisect_left
from typing import Any

from ..protocol import handoff as wire
from ..protocol.http_head import HeadDeadlineProtocol
from .web_gate import Gate

SWEEP_S = 0.25


class Tally:
    """Requests on handed connections: in flight, and finished since the last report, by
    label."""

    def __init__(self) -> None:
        self.received = 0
        self.active = 0
        self.labels: dict[str, wire.Tally] = {}
        self.ended: asyncio.Event | None = None  # set when a request ends, for `room`

    def end(self, label: str, status: int, seconds: float) -> None:
        self.active -= 1
        tally = self.labels.get(label)
        if tally is None:
            tally = self.labels[label] = wire.Tally(
                codes={}, buckets=[0] * (len(wire.LATENCY_BUCKETS) + 1), seconds=0.0)
        tally.codes[status] = tally.codes.get(status, 0) + 1
        tally.buckets[bisect_left(wire.LATENCY_BUCKETS, seconds)] += 1
        tally.seconds += seconds
        if self.ended is not None:
            self.ended.set()
            self.ended = None

    def report(self) -> wire.Load:
        """The ``load`` message."""
        return wire.Load(received=self.received, active=self.active, labels=self.labels)


class Handoff:
    def __init__(self, server: Any, container_id: str, token: str) -> None:
        self.server = server  # the uvicorn.Server serving the endpoint, started
        self.container_id = container_id
        self.token = token
        self.loop = asyncio.get_running_loop()
        self.tally = Tally()
        self.channel: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._report: asyncio.TimerHandle | None = None
        self._protocols: dict[float, type[Handed]] = {}
        self._in_flight: set[Any] = set()  # the gate's Requests and Sockets
        self._sweep: asyncio.TimerHandle | None = None
        self._swept = self.loop.time()  # when the loop last ran a sweep: it is not blocked

    def listen(self) -> str:
        """Start listening; the name to send in ``web_ready``."""
        name = wire.address(self.container_id, secrets.token_hex(6))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(wire.sockaddr(name))
        listener.listen(4)
        listener.setblocking(False)
        self.loop.add_reader(listener, self._accept)
        self._listener = listener
        return name

    def track(self, item: Any) -> None:
        """A request (or WebSocket) through the gate began; its timeout is watched."""
        self.tally.active += 1
        self._in_flight.add(item)
        if self._sweep is None:
            self._swept = self.loop.time()
            self._sweep = self.loop.call_later(SWEEP_S, self._expire_overdue)
        if self._report is None:
            self._report = self.loop.call_later(wire.LOAD_S, self._send_report)

    def untrack(self, item: Any, label: str, status: int) -> None:
        self._in_flight.discard(item)
        self.tally.end(label, status, self.loop.time() - item.started)

    def _expire_overdue(self) -> None:
        """Past their function's timeout: a request without an answer gets 504, a WebSocket
        is closed. One sweep every SWEEP_S while any is in flight, not a timer per request."""
        self._sweep = None
        now = self._swept = self.loop.time()
        for item in list(self._in_flight):
            if item.overdue(now):
                item.expire()
        if self._in_flight:
            self._sweep = self.loop.call_later(SWEEP_S, self._expire_overdue)

    def stalled(self, now: float) -> str | None:
        """Why the event loop is stuck, if requests are in flight and it has not run a sweep
        for longer than their function's timeout (asked from another thread)."""
        in_flight = list(self._in_flight)
        if not in_flight:
            return None
        timeout = in_flight[0].gate.grant.timeout_s
        if now - self._swept <= timeout + SWEEP_S:
            return None
        return (f"a request blocked the container's event loop past the function's timeout of "
                f"{timeout:g} s (a blocking call in an async def?); the container stops")

    async def room(self, capacity: int) -> None:
        """Until fewer than ``capacity`` requests are in flight."""
        while self.tally.active >= capacity:
            if self.tally.ended is None:
                self.tally.ended = asyncio.Event()
            await self.tally.ended.wait()

    def back(self, fd: int) -> None:
        if self.channel is None:
            raise OSError("the gateway's channel is closed")
        self.channel.setblocking(True)
        try:
            wire.send(self.channel, wire.Back(), fd)
        finally:
            self.channel.setblocking(False)

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            sock, _ = self._listener.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.loop.add_reader(sock, self._hello, sock)

    def _hello(self, sock: socket.socket) -> None:
        self.loop.remove_reader(sock)
        try:
            hello = wire.receive(sock)
        except OSError:
            hello = None
        if (hello is None or hello[0] != wire.HELLO
                or not secrets.compare_digest(hello[1].token, self.token)):
            sock.close()  # not the control plane
            return
        if self.channel is not None:
            self.loop.remove_reader(self.channel)
            self.channel.close()
        self.channel = sock
        self.loop.add_reader(sock, self._readable, sock)

    def _readable(self, sock: socket.socket) -> None:
        for message in wire.pending(sock):
            if message is None:
                self.loop.remove_reader(sock)
                sock.close()
                if self.channel is sock:
                    self.channel = None
                return
            kind, body, fds = message
            if kind == wire.CONN and len(fds) == 1:
                self._take(fds.pop(), body.head, body.grant)
            for fd in fds:
                socket.close(fd)

    def _take(self, fd: int, head: bytes, grant: wire.Grant) -> None:
        client = socket.socket(fileno=fd)
        client.setblocking(False)
        self.tally.received += 1
        if self._report is None:
            self._report = self.loop.call_later(wire.LOAD_S, self._send_report)
        config = copy.copy(self.server.config)
        config.loaded_app = Gate(self.server.config.loaded_app, grant, self)
        protocol = self._protocol(grant.head_s)(
            head, config=config, server_state=self.server.server_state,
            app_state=self.server.lifespan.state)
        asyncio.ensure_future(self.loop.connect_accepted_socket(lambda: protocol, client))

    def _protocol(self, head_s: float) -> type[Handed]:
        made = self._protocols.get(head_s)
        if made is None:
            made = self._protocols[head_s] = type("HandedProtocol", (Handed,), {"head_s": head_s})
        return made

    def _send_report(self) -> None:
        self._report = None
        if self.channel is None:
            return
        try:
            wire.send(self.channel, self.tally.report())
        except BlockingIOError:  # the gateway is behind: the next report carries these too
            self._report = self.loop.call_later(wire.LOAD_S, self._send_report)
            return
        except OSError:
            return
        self.tally.labels = {}
        if self.tally.active:  # the requests in flight end after this report: another
            self._report = self.loop.call_later(wire.LOAD_S, self._send_report)

    def close(self) -> None:
        for sock in (self._listener, self.channel):
            if sock is not None and sock.fileno() >= 0:
                self.loop.remove_reader(sock)
                sock.close()


class Handed(HeadDeadlineProtocol):
    """uvicorn's protocol for a handed connection: the bytes the gateway read come first."""

    def __init__(self, head: bytes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._head = head

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        head, self._head = self._head, b""
        if head:
            self.data_received(head)
