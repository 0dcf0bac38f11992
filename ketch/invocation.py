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


async def input_record(client: Client, index: int, method: str | None, payload: bytes,
                       environment: str) -> protocol.InputRecord:
    """An input; a large payload goes up first as a blob of the function's ``environment``."""
    if len(payload) > MAX_INLINE:
        answer = await client.request(protocol.BlobPut(data=payload, environment=environment))
        return protocol.InputRecord(index=index, method=method, args=None,
                                    blob_id=answer.blob_id)
    return protocol.InputRecord(index=index, method=method, args=payload, blob_id=None)


async def payload_of(client: Client, record: protocol.OutputRecord) -> bytes:
    """The bytes an output record carries, fetching its blob if it has one."""
    if record.blob_id is not None:
        return bytes((await client.request(protocol.BlobGet(blob_id=record.blob_id))).data)
    return bytes(record.data) if record.data is not None else b""


async def outcome(client: Client, record: protocol.OutputRecord) -> Any:
    """The value of an output record, or raise the error it carries."""
    status = record.status
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


async def outcome_or_exception(client: Client, record: protocol.OutputRecord, wrap: bool
                               ) -> Any:
    """Like `outcome`, but returns the exception instead of raising it."""
    try:
        return await outcome(client, record)
    except Exception as exc:
        return exception.UserCodeException(exc) if wrap else exc
