"""Framing for every ketch connection: a 4-byte big-endian length, then a msgpack array.

A frame is ``[kind, request_id, body]``; the body is a typed message (`ketch.protocol.message`)
or plain msgpack, and is decoded by whoever knows its type (`decode` leaves it raw). A request
carries a positive ``request_id`` and gets exactly one answer frame, ``["ok", request_id,
body]`` or ``["err", request_id, error]``; a frame with ``request_id == 0`` is a one-way notice.
Either side may send requests, so the same connection carries the control plane's pushes and the
peer's calls.

Errors travel as ``{"type": name, "message": text}`` where ``name`` is a class of
`ketch.exception`; `error_from_wire` turns them back into that class.
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

from .. import exception
from .message import decode as decode_message
from .message import encode as encode_message

HEADER = struct.Struct(">I")
MAX_FRAME = 1 << 30
# Until a connection has authenticated, its frames are a token or a container's hello: a peer
# nobody knows may not make the other side buffer more than this.
MAX_UNAUTHENTICATED_FRAME = 1 << 16
OK = "ok"
ERR = "err"


Frame = tuple[str, int, msgspec.Raw]


def encode(kind: str, request_id: int, body: Any) -> bytes:
    data = encode_message((kind, request_id, body))
    return HEADER.pack(len(data)) + data


def decode(data: bytes) -> tuple[str, int, msgspec.Raw]:
    """A frame's kind, request id and its body, still encoded."""
    return decode_message(data, Frame, "frame")


def plain(body: msgspec.Raw) -> Any:
    """A body that is plain msgpack (lists, maps, strings, bytes, numbers)."""
    return decode_message(body, Any, "frame body")


def error_to_wire(exc: BaseException) -> dict[str, str]:
    name = type(exc).__name__ if isinstance(exc, exception.Error) else "InternalError"
    message = str(exc) if isinstance(exc, exception.Error) else f"{type(exc).__name__}: {exc}"
    return {"type": name, "message": message}


def error_from_wire(body: dict[str, str]) -> exception.Error:
    cls = getattr(exception, body.get("type", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, exception.Error)):
        cls = exception.InternalError
    return cls(body.get("message", ""))


def parse_address(address: str) -> tuple[str, str, int]:
    """``unix:/path/to.sock`` -> ("unix", path, 0); ``host:port`` -> ("tcp", host, port)."""
    if address.startswith("unix:"):
        return "unix", address[5:], 0
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise exception.InvalidError(
            f"{address!r} is not a control plane address: use host:port or unix:/path"
        )
    return "tcp", host or "127.0.0.1", int(port)
