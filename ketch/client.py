"""`Client`: a connection to a control plane, as Modal's ``modal.Client``.

The process has one client, made on first use (`get_client`, Modal's ``Client.from_env``):
with ``KETCH_SERVER`` set (always so inside containers) it connects there with the token
`ketch.config.credentials` finds; otherwise it starts an embedded control plane, which lives
until the process exits. ``Client.from_credentials`` connects to the server with another
token. A client given as ``client=`` (``Sandbox.create``, ``Function.from_name``, …) is the
one that call and the handles it makes use: `CURRENT` holds it while they run.

Example::

    with ketch.Client.from_credentials(token_id, token_secret) as client:
        sb = ketch.Sandbox.create("sleep", "5", app=app, client=client)
        sb.terminate()     # through client's connection, as every call on sb
"""

from __future__ import annotations

import atexit
import contextvars
import weakref
from collections.abc import AsyncIterator, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from . import config, exception, synchronizer
from .protocol import client as protocol
from .protocol.message import Request
from .synchronizer import aio, aio_function
from .transport import Transport

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

_client: Client | None = None
_lock: asyncio.Lock | None = None
# The client of the call running now, where one was given; else the process's.
CURRENT: contextvars.ContextVar[Client | None] = contextvars.ContextVar("ketch_client",
                                                                       default=None)
_opened: weakref.WeakSet[Client] = weakref.WeakSet()  # from_credentials', closed at exit
_registered = False


class Client:
    def __init__(self, transport: Transport, embedded: bool) -> None:
        """Not made directly: use ``Client.from_env()`` or ``Client.from_credentials(...)``."""
        self.transport = transport
        self.embedded = embedded
        self._closed = False

    async def request(self, request: Request) -> Any:
        """The answer to ``request`` (of its kind's answer type)."""
        if self._closed:
            raise exception.ClientClosed("this ketch.Client was closed; make another with "
                                         "Client.from_env() or Client.from_credentials(...)")
        return await self.transport.request(request)

    async def close(self) -> None:
        global _client
        if self._closed:
            return
        self._closed = True
        if _client is self:
            _client = None  # the next call makes the process a new one
        await self.transport.close()

    def is_closed(self) -> bool:
        return self._closed

    @aio
    async def hello(self) -> None:
        """Check that the control plane answers on this connection (and accepts its token)."""
        await self.request(protocol.ClientHello())

    @aio_function
    async def from_env() -> Client:
        """The process's client, as the environment configures it (see the module's doc)."""
        return await get_client(default=True)

    @aio_function
    async def from_credentials(token_id: str, token_secret: str) -> Client:
        """A new connection to the ketch server (``KETCH_SERVER``, or the one running on this
        machine) that shows this user token; it stays open until closed or the process ends."""
        from .transport.remote import RemoteTransport

        if not isinstance(token_id, str) or not isinstance(token_secret, str):
            raise exception.InvalidError("from_credentials takes the token's id and secret as "
                                         "strings")
        address = config.server_address()
        if not address:
            raise exception.InvalidError(
                "Client.from_credentials connects to a ketch server with a token, and no server "
                "is configured: start one with `ketch server` (on this machine it is then found "
                "by itself), or set KETCH_SERVER=host:port")
        credentials = protocol.Auth(token_id=token_id, secret=token_secret)
        client = Client(await RemoteTransport.connect(address, credentials), embedded=False)
        _opened.add(client)
        _close_before_threads_stop()
        return client

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        synchronizer.run(self.close())

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await synchronizer.run_async(self.close())

    def __repr__(self) -> str:
        where = "embedded" if self.embedded else "remote"
        return f"Client({where}{', closed' if self._closed else ''})"


async def get_client(default: bool = False) -> Client:
    """The client of the call running now (`CURRENT`), else the process's, made on first use
    (call on the SDK loop); with ``default``, the process's."""
    global _client, _lock
    given = None if default else CURRENT.get()
    if given is not None:
        return given
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


def given(client: Any) -> Client | None:
    """``client=`` as a call received it, checked; None when not given."""
    if client is not None and not isinstance(client, Client):
        raise exception.InvalidError(
            f"client= takes a ketch.Client (Client.from_env() or Client.from_credentials(...)), "
            f"not {type(client).__name__}")
    return client


def use(client: Any) -> None:
    """Make ``client`` (if given) the one the running call uses, for the rest of its task."""
    chosen = given(client)
    if chosen is not None:
        CURRENT.set(chosen)


async def _bound(client: Client, coro: Coroutine[Any, Any, T]) -> T:
    token = CURRENT.set(client)
    try:
        return await coro
    finally:
        CURRENT.reset(token)


class _BoundIterator:
    """An async iterator whose every step runs with ``client`` current."""

    def __init__(self, client: Client, agen: AsyncIterator[Any]) -> None:
        self.client = client
        self.agen = agen

    def __aiter__(self) -> _BoundIterator:
        return self

    def __anext__(self) -> Coroutine[Any, Any, Any]:
        return _bound(self.client, self.agen.__anext__())  # type: ignore[arg-type]

    async def aclose(self) -> None:
        aclose = getattr(self.agen, "aclose", None)
        if aclose is not None:
            await _bound(self.client, aclose())


def bind(client: Client, result: Any, is_iter: bool) -> Any:
    """A handle's call (a coroutine, or an async iterator), run with the handle's client."""
    return _BoundIterator(client, result) if is_iter else _bound(client, result)


async def send(request: Request) -> Any:
    """Send one request through the running call's client (call on the SDK loop)."""
    return await (await get_client()).request(request)


def send_blocking(request: Request) -> Any:
    """`send`, from blocking code."""
    return synchronizer.run(send(request))


def _close_before_threads_stop() -> None:
    """Close the client at exit while the thread pools still run: an embedded control plane
    cleans up (sandboxes, volumes) with `asyncio.to_thread`, and `atexit` handlers run only
    after the interpreter has shut the pools down. Hooks of `threading._register_atexit` run
    before that, latest first, so this one is registered after the pools' own."""
    global _registered
    if _registered:
        return
    _registered = True
    import concurrent.futures.thread  # noqa: F401  (registers the pools' shutdown hook first)
    import threading

    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(_close_at_exit)
    else:
        register(_close_at_exit)


def _close_at_exit() -> None:
    for client in [*_opened, *([_client] if _client is not None else [])]:
        try:
            synchronizer.run(client.close())
        except Exception:  # the process is exiting: nothing more can be done
            pass
