"""The process's connection to a control plane, made on first use.

With ``KETCH_SERVER`` set (always so inside containers) it connects there; otherwise it starts
an embedded control plane, which lives until the process exits.
"""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING, Any

from . import config, synchronizer
from .protocol.message import Request
from .transport import Transport

if TYPE_CHECKING:
    import asyncio

_client: Client | None = None
_lock: asyncio.Lock | None = None


class Client:
    def __init__(self, transport: Transport, embedded: bool) -> None:
        self.transport = transport
        self.embedded = embedded

    async def request(self, request: Request) -> Any:
        """The answer to ``request`` (of its kind's answer type)."""
        return await self.transport.request(request)

    async def close(self) -> None:
        await self.transport.close()


async def get_client() -> Client:
    """The process's client (call on the SDK loop)."""
    global _client, _lock
    if _client is not None:
        return _client
    import asyncio

    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _client is None:
            address = config.server_address()
            if address:
                from .transport.remote import RemoteTransport

                _client = Client(await RemoteTransport.connect(address), embedded=False)
            else:
                from .transport.embedded import EmbeddedTransport

                transport = await EmbeddedTransport.start(config.home(), config.max_containers())
                _client = Client(transport, embedded=True)
            _close_before_threads_stop()
    return _client


async def send(request: Request) -> Any:
    """Send one request through this process's client (call on the SDK loop)."""
    return await (await get_client()).request(request)


def send_blocking(request: Request) -> Any:
    """`send`, from blocking code."""
    return synchronizer.run(send(request))


def _close_before_threads_stop() -> None:
    """Close the client at exit while the thread pools still run: an embedded control plane
    cleans up (sandboxes, volumes) with `asyncio.to_thread`, and `atexit` handlers run only
    after the interpreter has shut the pools down. Hooks of `threading._register_atexit` run
    before that, latest first, so this one is registered after the pools' own."""
    import concurrent.futures.thread  # noqa: F401  (registers the pools' shutdown hook first)
    import threading

    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(_close_at_exit)
    else:
        register(_close_at_exit)


def _close_at_exit() -> None:
    global _client
    if _client is not None:
        client, _client = _client, None
        try:
            synchronizer.run(client.close())
        except Exception:  # the process is exiting: nothing more can be done
            pass
