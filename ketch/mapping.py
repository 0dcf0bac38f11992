"""``Function.map`` and friends: stream inputs in batches, stream outputs back in batches.

Inputs are read from the caller's iterators on a thread (they may block), pickled in chunks
and sent as batches while outputs are already coming back. Outputs are yielded in input order
(``order_outputs=True``) or as they arrive.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

from . import exception
from .client import Client
from .invocation import input_record, outcome, outcome_or_exception, pack_args
from .protocol import client as protocol

CHUNK = 1000
MAX_OUTSTANDING = 100_000


def _next_chunk(
    source: Iterator[tuple[Any, ...]], kwargs: dict[str, Any], start: int
) -> list[tuple[int, bytes]]:
    return [(start + i, pack_args(args, kwargs)) for i, args in
            enumerate(itertools.islice(source, CHUNK))]


class MapFeeder:
    """Sends a call's inputs; ``count`` is final once ``finished`` is set."""

    def __init__(self, client: Client, call_id: str, method: str | None,
                 environment: str) -> None:
        self.client = client
        self.call_id = call_id
        self.method = method
        self.environment = environment  # the function's: where large inputs go
        self.count = 0
        self.received = 0
        self.room = asyncio.Event()
        self.room.set()

    async def feed(self, source: Iterator[tuple[Any, ...]], kwargs: dict[str, Any]) -> None:
        while True:
            chunk = await asyncio.to_thread(_next_chunk, source, kwargs, self.count)
            if not chunk:
                break
            records = [await input_record(self.client, i, self.method, p, self.environment)
                       for i, p in chunk]
            await self.client.request(protocol.InputsPut(call_id=self.call_id, records=records))
            self.count += len(chunk)
            while self.count - self.received > MAX_OUTSTANDING:
                self.room.clear()
                await self.room.wait()
        await self.client.request(protocol.InputsDone(call_id=self.call_id, count=self.count))


async def start_call(
    client: Client, function_id: str, kind: protocol.CallKind, method: str | None,
    source: Iterator[tuple[Any, ...]], kwargs: dict[str, Any], environment: str,
) -> tuple[str, asyncio.Task[None], MapFeeder]:
    answer = await client.request(protocol.CallCreate(function_id=function_id, kind=kind))
    call_id = answer.call_id
    feeder = MapFeeder(client, call_id, method, environment)
    return call_id, asyncio.ensure_future(feeder.feed(source, kwargs)), feeder


async def map_outputs(
    client: Client, function_id: str, method: str | None, source: Iterator[tuple[Any, ...]],
    kwargs: dict[str, Any], environment: str, *, order_outputs: bool, return_exceptions: bool,
    wrap: bool,
) -> AsyncIterator[Any]:
    call_id, feeding, feeder = await start_call(client, function_id, "map", method, source,
                                                kwargs, environment)
    held: dict[int, protocol.OutputRecord] = {}
    next_index = cursor = 0
    finished = lost = False
    try:
        while True:
            if feeding.done() and feeding.exception() is not None:
                lost = isinstance(feeding.exception(), exception.ConnectionError)
                raise feeding.exception()  # type: ignore[misc]
            try:
                answer = await client.request(protocol.OutputsGet(call_id=call_id, cursor=cursor,
                                                                  timeout=1.0))
            except exception.ConnectionError as exc:
                lost = True
                raise exception.ConnectionError(
                    f"{exc} while map call {call_id} ran. The control plane keeps the inputs it "
                    "accepted: once it is back, read a result with "
                    f"ketch.FunctionCall.from_id({call_id!r}).get(index=N)"
                ) from exc
            cursor = answer.cursor
            feeder.received += len(answer.outputs)
            feeder.room.set()
            ready: list[protocol.OutputRecord] = []
            if order_outputs:
                held.update((record.index, record) for record in answer.outputs)
                while next_index in held:
                    ready.append(held.pop(next_index))
                    next_index += 1
            else:
                ready = answer.outputs
            values: list[Any] = []
            error: BaseException | None = None
            for record in ready:
                try:
                    values.append(await _value(client, record, return_exceptions, wrap))
                except Exception as exc:
                    error = exc
                    break
            if values:
                yield values  # the results before a failing one still reach the caller
            if error is not None:
                raise error
            if answer.done:
                finished = True
                await feeding
                return
    finally:
        if not feeding.done():
            feeding.cancel()
        if not finished and not lost:  # stopped early or an input failed: drop the rest
            await client.request(protocol.CallCancel(call_id=call_id))
            await client.request(protocol.CallForget(call_id=call_id))


async def _value(client: Client, record: protocol.OutputRecord, return_exceptions: bool,
                 wrap: bool) -> Any:
    if return_exceptions:
        return await outcome_or_exception(client, record, wrap)
    return await outcome(client, record)
