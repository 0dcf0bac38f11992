"""A peer that has not authenticated cannot make the control plane buffer a large frame: one
claiming more than a token's worth is dropped at its header (a raw socket, no ketch client)."""

from __future__ import annotations

import socket
import struct

import msgspec

from ketch.protocol.wire import MAX_UNAUTHENTICATED_FRAME


def raw(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=30)


def test_a_large_frame_before_auth_closes_the_connection(server):
    with raw(server.address) as sock:
        sock.sendall(struct.pack(">I", 1 << 29) + b"\0" * 4096)  # claims 512 MiB, sends 4 KiB
        assert sock.recv(1) == b""  # closed by the server, not waiting for the rest


def test_a_small_frame_before_auth_is_answered(server):
    frame = msgspec.msgpack.encode(["app_list", 1, []])
    assert len(frame) < MAX_UNAUTHENTICATED_FRAME
    with raw(server.address) as sock:
        sock.sendall(struct.pack(">I", len(frame)) + frame)
        (size,) = struct.unpack(">I", sock.recv(4))
        kind, _, body = msgspec.msgpack.decode(sock.recv(size))
    assert kind == "err" and body["type"] == "AuthError"
