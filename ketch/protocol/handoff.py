"""The channel over which the gateway hands a web client's connection to a container's agent.

The gateway reads a connection's first request head, routes it, checks its proxy token and
limits, then passes the socket itself to the container that will answer it (``SCM_RIGHTS``),
so that neither the request nor anything after it on the connection goes through the
gateway's process again. The container serves the connection with its own uvicorn, and
applies to each later request on it the rules the gateway applied to the first (`Grant`).

A web container's agent listens on an abstract unix socket (``SOCK_SEQPACKET``: one message
per packet, descriptors beside it) named in its ``web_ready`` notice. The gateway connects:

gateway → agent  ``hello``  `Hello`: the container's own token, first, so that only the
                            control plane can hand the agent connections
gateway → agent  ``conn``   `Conn` + one descriptor, the client's socket: the bytes the
                            gateway read from it (the first head, maybe more) and what the
                            connection may carry (`Grant`)
agent → gateway  ``load``   `Load`, every ``LOAD_S`` while it changes: the requests in flight on
                            handed connections, those finished since the last report, their
                            statuses and durations (the gateway's metrics and the autoscaler
                            count them)
agent → gateway  ``back``   `Back` + one descriptor: a request the grant does not cover (another
                            endpoint, other credentials, or the container is full), written
                            whole into one end of a socket pair whose other end the agent
                            reads the answer from; the gateway routes it as a new connection

Each message is ``[kind, body]`` in the one encoding of `ketch.protocol.message`, the body
checked against its kind's type (`MESSAGES`); a message that does not fit ends the channel.

Routing is the same function on both sides (`route`): ``<label>.<domain>`` in the Host header,
else ``/<label>/…`` as the first segment of the path.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from typing import Any

import msgspec

from .. import exception
from .message import Message, decode, encode

HELLO = "hello"
CONN = "conn"
LOAD = "load"
BACK = "back"
MAX_PACKET = 1 << 17  # a head is at most MAX_HEAD; the grant and a load report are small
MAX_HEAD = 1 << 16
LOAD_S = 0.05
# The gateway's request latency histogram, counted in the container for handed connections.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
PROXY_HEADERS = (("modal-key", "modal-secret"), ("ketch-key", "ketch-secret"))
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                        "te", "trailers", "transfer-encoding", "upgrade"})
CREDENTIALS = frozenset(name for pair in PROXY_HEADERS for name in pair)
# What the gateway, and a container for the connections handed to it, answer (413, 408, 504).
TOO_LARGE = ("the request body is over the gateway's {:g} MiB (max_body_mib in [gateway] of the "
             "server's config.toml)\n")
TOO_SLOW = ("the request body did not arrive within {:g} s (body_timeout_s in [gateway] of the "
            "server's config.toml)\n")
NO_ANSWER = "the container did not answer within {:g} s\n"


class Grant(Message):
    """What a handed connection may carry, and the rules for each request on it.

    A request for another label (or, by path, under another prefix), or with proxy credentials
    other than those the gateway checked, goes back to the gateway; so does one that finds the
    container at its capacity, unless it came back already (``returned``)."""

    label: str
    by_host: bool  # routed by the Host header under ``domain``, else by the path's prefix
    domain: str
    method: str | None  # a class's web method: the app serves it under /<method>
    credentials: str | None  # `fingerprint` of the checked Modal-Key/Modal-Secret, if required
    max_body: int
    head_s: float
    body_s: float
    timeout_s: float
    capacity: int
    returned: bool = False


class Hello(Message):
    token: str


class Conn(Message):
    head: bytes
    grant: Grant


class Tally(Message):
    """Requests of one label finished since the last report."""

    codes: dict[int, int]  # by status
    buckets: list[int]  # by `LATENCY_BUCKETS` bound, then over them
    seconds: float  # their durations, together


class Load(Message):
    received: int  # connections taken, of those handed over
    active: int  # requests in flight on them
    labels: dict[str, Tally]


class Back(Message):
    pass


MESSAGES: dict[str, type[Message]] = {HELLO: Hello, CONN: Conn, LOAD: Load, BACK: Back}
KIND_OF = {type_: kind for kind, type_ in MESSAGES.items()}
Received = tuple[str, Any, list[int]]  # kind, body (of its type in MESSAGES), descriptors


def route(host: str, raw_path: bytes, domain: str) -> tuple[str, bool, bytes]:
    """The label a request names, whether by its Host header, and the path the app sees."""
    label = host_label(host, domain)
    if label is not None:
        return label, True, raw_path or b"/"
    first, _, rest = raw_path.lstrip(b"/").partition(b"/")
    return first.decode("latin-1"), False, b"/" + rest


def host_label(host: str, domain: str) -> str | None:
    """The label of a Host header ``<label>.<domain>[:port]``; None if it names no label."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower().rstrip(".")
    suffix = "." + domain
    if name.endswith(suffix) and "." not in name[: -len(suffix)]:
        return name[: -len(suffix)]
    return None


def fingerprint(headers: dict[str, str]) -> str | None:
    """A digest of the proxy credentials a request carries (either pair of names), or None."""
    for key, secret in PROXY_HEADERS:
        if key in headers:
            text = f"{headers[key]}\0{headers.get(secret, '')}"
            return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return None


def send(sock: socket.socket, body: Message, fd: int | None = None) -> None:
    data = encode((KIND_OF[type(body)], body))
    if fd is None:
        sock.send(data)
    else:
        socket.send_fds(sock, [data], [fd])


def receive(sock: socket.socket) -> Received | None:
    """One message and the descriptor that came with it; None at the end of the stream, or
    when the message is not one of `MESSAGES` (the channel is then of no more use)."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 1)
    try:
        if not data:
            raise exception.InvalidError("the handoff channel ended")
        kind, body = decode(data, tuple[str, msgspec.Raw], "handoff message")
        if kind not in MESSAGES:
            raise exception.InvalidError(f"no handoff message of kind {kind!r}")
        return kind, decode(body, MESSAGES[kind], kind), fds
    except exception.InvalidError:
        for fd in fds:
            socket.close(fd)
        return None


def pending(sock: socket.socket) -> Iterator[Received | None]:
    """The messages waiting on a non-blocking socket, then None if the stream has ended."""
    while True:
        try:
            message = receive(sock)
        except BlockingIOError:
            return
        except OSError:
            message = None
        yield message
        if message is None:
            return


def address(container_id: str, nonce: str) -> str:
    """The agent's abstract socket name, as sent in ``web_ready`` (a leading ``@``)."""
    return f"@ketch-web-{container_id}-{nonce}"


def sockaddr(name: str) -> str:
    return "\0" + name[1:]
