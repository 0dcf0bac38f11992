"""An asyncio connection end that sends requests and serves the other side's (see `wire`)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from .. import exception
from .message import decode as decode_message
from .wire import ERR, HEADER, MAX_FRAME, OK, decode, encode, error_from_wire, error_to_wire, plain

# A handler gets a frame's kind and its body, still encoded: it decodes it as its kind's type.
Handler = Callable[[str, msgspec.Raw], Awaitable[Any]]


class Peer:
    """One end of an asyncio connection: sends requests, answers the other side's requests.

    Example::

        peer = Peer(reader, writer, handler)
        peer.start()
        answer = await peer.request("dict_len", DictLen(dict_id=d), Length)
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        handler: Handler,
        on_close: Callable[[Peer], None] | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self._on_close = on_close
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[asyncio.Future[Any], Any]] = {}
        self._task: asyncio.Task[None] | None = None
        self._serving: set[asyncio.Task[None]] = set()
        self.closed = False
        self.info: dict[str, Any] = {}
        self.max_frame = MAX_FRAME  # a larger frame ends the connection before it is read

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._read_loop())

    async def request(self, kind: str, body: Any, answer: Any = Any) -> Any:
        """Send a request; its answer decoded as ``answer`` (a message type, or Any)."""
        if self.closed:
            raise exception.ConnectionError("the connection to the control plane is closed")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future, answer
        self._writer.write(encode(kind, request_id, body))
        return await future

    def notify(self, kind: str, body: Any) -> None:
        if not self.closed:
            self._writer.write(encode(kind, 0, body))

    async def drain(self) -> None:
        await self._writer.drain()

    def close(self) -> None:
        if not self.closed:
            self._writer.close()
        self._finish()

    async def _read_loop(self) -> None:
        try:
            while True:
                header = await self._reader.readexactly(HEADER.size)
                (size,) = HEADER.unpack(header)
                if size > self.max_frame:  # a broken or hostile peer: do not buffer its claim
                    break
                kind, request_id, body = decode(await self._reader.readexactly(size))
                if kind == OK or kind == ERR:
                    self._answer(kind, request_id, body)
                elif request_id:
                    task = asyncio.ensure_future(self._serve(kind, request_id, body))
                    self._serving.add(task)
                    task.add_done_callback(self._serving.discard)
                else:
                    await self._handler(kind, body)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.close()

    def _answer(self, kind: str, request_id: int, body: msgspec.Raw) -> None:
        pending = self._pending.pop(request_id, None)
        if pending is None or pending[0].done():
            return
        future, answer = pending
        try:
            if kind == OK:
                future.set_result(decode_message(body, answer, "answer"))
            else:
                future.set_exception(error_from_wire(plain(body)))
        except exception.Error as exc:
            future.set_exception(exc)

    async def _serve(self, kind: str, request_id: int, body: Any) -> None:
        try:
            result = await self._handler(kind, body)
            frame = encode(OK, request_id, result)
        except Exception as exc:  # every failure goes back to the caller as an error frame
            frame = encode(ERR, request_id, error_to_wire(exc))
        if not self.closed:
            self._writer.write(frame)

    def _finish(self) -> None:
        if self.closed and not self._pending and self._task is None:
            return
        self.closed = True
        for task in list(self._serving):  # nobody is left to answer: a blocked get must not
            task.cancel()                 # take an item for a caller that has gone
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(exception.ConnectionError("the connection was closed"))
        self._pending.clear()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close(self)


async def connect(address: str, handler: Handler) -> Peer:
    """Open a connection to a control plane and start reading from it: over TLS when a
    fingerprint is pinned for its address (`ketch.config.server_pin`), which its certificate
    must match before anything is sent; plain otherwise, and always on a unix socket."""
    from .. import config
    from .wire import parse_address

    family, host, port = parse_address(address)
    pin = config.server_pin(address) if family == "tcp" else None
    try:
        if family == "unix":
            reader, writer = await asyncio.open_unix_connection(host, limit=1 << 22)
        elif pin is None:
            reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        else:
            reader, writer = await _open_tls(address, host, port, *pin)
    except OSError as exc:
        raise exception.ConnectionError(
            f"cannot reach the ketch control plane at {address}: {exc.strerror or exc}. "
            "Start one with `ketch server`, or unset KETCH_SERVER to run embedded."
        ) from exc
    peer = Peer(reader, writer, handler)
    peer.start()
    return peer


async def _open_tls(address: str, host: str, port: int, pinned: str, source: str
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    import ssl

    from . import tls

    try:
        reader, writer = await asyncio.open_connection(
            host, port, limit=1 << 22, ssl=tls.client_context(),
            ssl_handshake_timeout=tls.HANDSHAKE_TIMEOUT_S)
    except (TimeoutError, ssl.SSLError, ConnectionResetError) as exc:
        raise exception.ConnectionError(
            f"the control plane at {address} did not complete a TLS handshake ({exc}), but a "
            f"fingerprint is pinned for it in {source}: it serves plain TCP (a `ketch server` "
            "on 127.0.0.1 does) or is not a ketch server. Point KETCH_SERVER at the right "
            f"server, or, if this one is meant to be plain, {tls.unpin_hint(source)}."
        ) from exc
    tls.check_pin(address, writer, pinned, source)
    return reader, writer
