"""One call's payloads: arguments out (inline or as a blob), outcomes back in."""

from __future__ import annotations

from typing import Any

from . import exception
from .client import Client
from .protocol import client as protocol
from .protocol.container import Status
from .serialization import MAX_INLINE, deserialize, serialize, unpack_exception


def pack_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    return serialize((args, kwargs), "arguments")


async def input_record(client: Client, index: int, method: str | None, payload: bytes) -> list[Any]:
    if len(payload) > MAX_INLINE:
        blob_id = (await client.request(protocol.blob_put(payload)))["blob_id"]
        return protocol.input_record(index, method, None, blob_id)
    return protocol.input_record(index, method, payload, None)


async def payload_of(client: Client, record: list[Any]) -> bytes:
    """The bytes an output record carries, fetching its blob if it has one."""
    _, _, data, blob_id = record
    if blob_id is not None:
        return bytes((await client.request(protocol.blob_get(blob_id)))["data"])
    return bytes(data) if data is not None else b""


async def outcome(client: Client, record: list[Any]) -> Any:
    """The value of an output record, or raise the error it carries."""
    status = record[1]
    if status == Status.OK or status == Status.GEN_ITEM:
        return deserialize(await payload_of(client, record), "return value")
    if status == Status.ERROR:
        raise unpack_exception(await payload_of(client, record))
    message = (await payload_of(client, record)).decode(errors="replace")
    if status == Status.TIMEOUT:
        raise exception.FunctionTimeoutError(message)
    if status == Status.DIED:
        raise exception.ContainerDiedError(message)
    if status == Status.CANCELLED:
        raise exception.InputCancellation(message)
    raise exception.InternalError(f"unknown output status {status!r}")


async def outcome_or_exception(client: Client, record: list[Any], wrap: bool) -> Any:
    """Like `outcome`, but returns the exception instead of raising it."""
    try:
        return await outcome(client, record)
    except Exception as exc:
        return exception.UserCodeException(exc) if wrap else exc
