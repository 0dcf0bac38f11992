"""Tunnels: TCP ports on the host that lead to a sandbox's ports (Modal's ``encrypted_ports``
and ``unencrypted_ports``). Each connection is relayed by the control plane to the sandbox's
own address; only the host may connect to a sandbox (`ketch.backends.netns`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable


class Tunnel:
    """One port of one sandbox, served at ``host:port`` on this machine.

    Example::

        tunnel = await Tunnel.open("127.0.0.1", "10.213.0.2", 8080, on_use=sandbox.touch)
        tunnel.port      # where clients connect
        tunnel.close()
    """

    def __init__(self, server: asyncio.Server, host: str) -> None:
        self.server = server
        self.host = host
        self.port = int(server.sockets[0].getsockname()[1])

    @classmethod
    async def open(cls, bind: str, target: str, target_port: int,
                   on_use: Callable[[], None]) -> Tunnel:
        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            on_use()
            try:
                inner_reader, inner_writer = await asyncio.open_connection(target, target_port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(_pipe(reader, inner_writer), _pipe(inner_reader, writer),
                                 return_exceptions=True)

        server = await asyncio.start_server(relay, bind, 0)
        return cls(server, socket.gethostname() if bind in ("0.0.0.0", "") else bind)

    def close(self) -> None:
        self.server.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError):
            writer.close()
