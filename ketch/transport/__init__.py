"""How the SDK reaches a control plane: one method, ``request``, and ``close``.

- `EmbeddedTransport`: the control plane runs in this process; requests are plain calls.
- `RemoteTransport`: the control plane runs elsewhere (``ketch server``); requests travel
  over a socket as `ketch.protocol.wire` frames.
"""

from __future__ import annotations

from typing import Protocol

from ..protocol.message import Answer, Request


class Transport(Protocol):
    async def request(self, request: Request) -> Answer: ...

    async def close(self) -> None: ...
