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
from .message import decode as decode_message
from .message import encode as encode_message

READY = "ready"
FAILED = "failed"
FORK = "fork"
FORKED = "forked"
FORK_FAILED = "fork_failed"
EXITED = "exited"
RETIRE = "retire"
PREFORK = "prefork"
DROP = "drop"
MAX_PACKET = 1 << 20
# What a web endpoint's container imports to serve: its zygote imports them ahead, so that a
# request to an endpoint with no container waits for a fork, not for these imports.
WEB_PRELOAD = ("ketch.container.web", "ketch.container.web_handoff", "uvicorn.server",
               "uvicorn.protocols.http.httptools_impl", "uvicorn.protocols.http.h11_impl",
               "uvicorn.protocols.websockets.websockets_sansio_impl", "uvicorn.lifespan.on",
               "uvicorn.loops.asyncio", "uvicorn.middleware.proxy_headers",
               "uvicorn.middleware.wsgi", "starlette.applications", "starlette.routing",
               "starlette.responses", "fastapi")


def encode(kind: str, body: dict[str, Any]) -> bytes:
    return encode_message((kind, body))


def decode(data: bytes) -> tuple[str, dict[str, Any]]:
    kind, body = decode_message(data, tuple[str, dict[str, Any]], "zygote message")
    return kind, body


class Prepare(msgspec.Struct, kw_only=True):
    """What the zygote loads before its first fork: the function of a memory snapshot, and
    modules to import (those of them that the image has)."""

    snapshot: MemorySnapshot | None = None
    preload: list[str] = []


def prepare(snapshot: MemorySnapshot | None, preload: tuple[str, ...] = ()) -> bytes:
    return encode_message(("prepare", Prepare(snapshot=snapshot, preload=list(preload))))


def read_prepare(data: bytes) -> Prepare:
    _, body = decode_message(data, tuple[str, Prepare], "the zygote's prepare message")
    return body


def fork(request_id: int, config: dict[str, Any], env: dict[str, str],
         spare: int | None = None) -> bytes:
    return encode(FORK, {"id": request_id, "config": config, "env": env, "spare": spare})


def prefork(request_id: int, cgroup_procs: list[str]) -> bytes:
    return encode(PREFORK, {"id": request_id, "cgroup_procs": cgroup_procs})


def drop(request_id: int) -> bytes:
    return encode(DROP, {"id": request_id})


def send(sock: socket.socket, data: bytes, fds: list[int] | None = None) -> None:
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def receive(sock: socket.socket) -> tuple[str, dict[str, Any], list[int]] | None:
    """One message and the descriptors that came with it; None at the end of the stream."""
    data, fds, _, _ = socket.recv_fds(sock, MAX_PACKET, 4)
    if not data:
        return None
    kind, body = decode(data)
    return kind, body, fds
