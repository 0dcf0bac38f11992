"""A control plane reached over a socket (``ketch server``)."""

from __future__ import annotations

from typing import Any

from .. import config, exception
from ..protocol import client as protocol
from ..protocol.message import Answer, Request
from ..protocol.peer import Peer, connect


async def _refuse(kind: str, body: Any) -> Any:
    raise exception.InvalidError(f"clients do not answer {kind!r}")


class RemoteTransport:
    def __init__(self, peer: Peer) -> None:
        self._peer = peer

    @classmethod
    async def connect(cls, address: str,
                      credentials: protocol.Auth | None = None) -> RemoteTransport:
        """Connect and show ``credentials`` (default: `ketch.config.credentials`)."""
        peer = await connect(address, _refuse)
        try:
            auth = credentials or protocol.Auth(**config.credentials())
            await peer.request(auth.KIND, auth, auth.ANSWER)
        except exception.ConnectionError:
            await _explain_closed(address)
            raise
        return cls(peer)

    async def request(self, request: Request) -> Answer:
        return await self._peer.request(request.KIND, request, request.ANSWER)  # type: ignore[no-any-return]

    async def close(self) -> None:
        self._peer.close()


async def _explain_closed(address: str) -> None:
    """A server that closes a plain connection at its first frame may be one that serves TLS
    (a TLS server reads the frame as a broken handshake): say so, and how to pin it."""
    from ..protocol import tls
    from ..protocol.wire import parse_address

    family, host, port = parse_address(address)
    if family != "tcp" or config.server_pin(address) is not None:
        return
    shown = await tls.probe(host, port)
    if shown is not None:
        raise exception.ConnectionError(
            f"the control plane at {address} serves TLS and this client spoke plain TCP to it, "
            "having no fingerprint pinned for it. Check the certificate's fingerprint against "
            "the one `ketch server` printed (or `ketch token info` on its machine), then pin "
            f"it: `ketch token pin {shown}` (or export KETCH_SERVER_FINGERPRINT={shown})."
        )
