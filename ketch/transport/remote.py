"""A control plane reached over a socket (``ketch server``)."""

from __future__ import annotations

from typing import Any

from .. import config, exception
from ..protocol import client as protocol
from ..protocol.peer import Peer, connect


async def _refuse(kind: str, body: Any) -> Any:
    raise exception.InvalidError(f"clients do not answer {kind!r}")


class RemoteTransport:
    def __init__(self, peer: Peer) -> None:
        self._peer = peer

    @classmethod
    async def connect(cls, address: str) -> RemoteTransport:
        peer = await connect(address, _refuse)
        await peer.request(*protocol.auth(config.credentials()))
        return cls(peer)

    async def request(self, kind: str, body: dict[str, Any]) -> Any:
        return await self._peer.request(kind, body)

    async def close(self) -> None:
        self._peer.close()
