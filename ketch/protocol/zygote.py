"""Messages between a worker and a zygote (`ketch.container.zygote`).

The zygote reads one `prepare` message from its stdin when it starts (the function to load
ahead of time, if it keeps a memory snapshot), then talks over a ``SOCK_SEQPACKET`` socket:
one message per packet, so no framing, and a fork request carries the new container's stdout
and stderr as file descriptors beside it.

worker → zygote: ``prefork`` (a spare: a child already in a fresh cgroup and namespaces, waiting
for its container), ``fork`` (with two descriptors; ``spare`` names the prefork to use),
``drop`` (a spare no longer wanted: it exits), ``retire``.
zygote → worker: ``ready`` or ``failed`` once, then ``forked``/``fork_failed`` per request and
``exited`` when a forked container (or an unused spare) ends.
"""

from __future__ import annotations

import socket
from typing import Any

import msgspec

from .definition import MemorySnapshot
from .message import Message, decode, encode

MAX_PACKET = 1 << 20
# What a web endpoint's container imports to serve: its zygote imports them ahead, so that a
# request to an endpoint with no container waits for a fork, not for these imports.
WEB_PRELOAD = ("ketch.container.web", "ketch.container.web_handoff", "uvicorn.server",
               "uvicorn.protocols.http.httptools_impl", "uvicorn.protocols.http.h11_impl",
               "uvicorn.protocols.websockets.websockets_sansio_impl", "uvicorn.lifespan.on",
               "uvicorn.loops.asyncio", "uvicorn.middleware.proxy_headers",
               "uvicorn.middleware.wsgi", "starlette.applications", "starlette.routing",
               "starlette.responses", "fastapi")


class Frame(Message, tag=True):
    """A message of this protocol: it travels as ``[kind, *fields]``."""


class Fork(Frame, tag="fork"):
    """Fork a container: ``config`` is the launcher's (`ketch.backends.nsinit`), ``env`` its
    agent's environment; ``spare`` names the prefork to hand it to. Its stdout and stderr come
    beside the packet as two descriptors."""

    id: int
    config: dict[str, Any]
    env: dict[str, str]
    spare: int | None = None


class Prefork(Frame, tag="prefork"):
    """Make a spare: a child in a fresh cgroup (whose ``cgroup.procs`` files are given) and
    namespaces, waiting for its container."""

    id: int
    cgroup_procs: list[str]


class Drop(Frame, tag="drop"):
    """A spare no longer wanted: it exits."""

    id: int


class Retire(Frame, tag="retire"):
    """Fork no more; exit once the last container has ended."""


class Ready(Frame, tag="ready"):
    pid: int


class Failed(Frame, tag="failed"):
    """The zygote could not prepare (and exits)."""

    reason: str


class Forked(Frame, tag="forked"):
    id: int
    pid: int


class ForkFailed(Frame, tag="fork_failed"):
    id: int
    reason: str


class Exited(Frame, tag="exited"):
    """A forked container, or an unused spare, ended with this wait status."""

    id: int
    status: int


ToZygote = Fork | Prefork | Drop | Retire
FromZygote = Ready | Failed | Forked | ForkFailed | Exited


class Prepare(msgspec.Struct, kw_only=True):
    """What the zygote loads before its first fork: the function of a memory snapshot, and
    modules to import (those of them that the image has)."""

    snapshot: MemorySnapshot | None = None
    preload: list[str] = []


def prepare(snapshot: MemorySnapshot | None, preload: tuple[str, ...] = ()) -> bytes:
    return encode(Prepare(snapshot=snapshot, preload=list(preload)))


def read_prepare(data: bytes) -> Prepare:
    return decode(data, Prepare, "the zygote's prepare message")


def send(sock: socket.socket, frame: Frame, fds: list[int] | None = None) -> None:
    data = encode(frame)
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive_request(sock: socket.socket) -> tuple[ToZygote, list[int]] | None:
    """The worker's next frame and the descriptors that came with it; None at the end of the
    stream."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 4)
    if not data:
        return None
    frame: ToZygote = decode(data, ToZygote, "zygote request")
    return frame, fds


def receive_report(sock: socket.socket) -> FromZygote | None:
    """The zygote's next frame; None at the end of the stream."""
    data = sock.recv(MAX_PACKET)
    if not data:
        return None
    frame: FromZygote = decode(data, FromZygote, "zygote report")
    return frame
