"""`FunctionCall`: a handle on a spawned call, fetchable by id from any process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from . import exception, synchronizer
from .client import CURRENT, get_client, given
from .invocation import outcome
from .logs import LogsManager
from .protocol import client as protocol
from .synchronizer import aio, aio_iter


class FunctionCall:
    """A call started with ``.spawn()`` or ``.spawn_map()``.

    Example::

        call = square.spawn(4)
        print(call.object_id)        # "fc-…", usable from another process:
        ketch.FunctionCall.from_id(call.object_id).get(timeout=10)
    """

    def __init__(self, call_id: str, num_inputs: int = 1) -> None:
        self.object_id = call_id
        self._num_inputs = num_inputs
        self._client = CURRENT.get()  # the client= of the call that made it, if any

    @staticmethod
    def from_id(function_call_id: str, client: Any = None) -> FunctionCall:
        if not isinstance(function_call_id, str) or not function_call_id.startswith("fc-"):
            raise exception.InvalidError(
                f"{function_call_id!r} is not a function call id (they start with 'fc-')"
            )
        call = FunctionCall(function_call_id)
        call._client = given(client)
        return call

    @property
    def logs(self) -> LogsManager:
        """The lines its containers printed while running it: ``fetch`` (from its start by
        default), ``tail``, ``stream`` (until it has finished)."""
        async def object_id() -> str:
            return self.object_id

        return LogsManager(object_id, self._client, call=True)

    def num_inputs(self) -> int:
        return self._num_inputs

    @aio
    async def get(self, timeout: float | None = None, *, index: int = 0) -> Any:
        """The result of input ``index``; ``timeout=0`` polls, raising `TimeoutError` if not ready."""
        client = await get_client()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            answer = await client.request(protocol.OutputsGet(call_id=self.object_id, cursor=0,
                                                              timeout=wait))
            for record in answer.outputs:
                if record.index == index:
                    return await outcome(client, record)
            if answer.done:
                raise exception.NotFoundError(f"{self.object_id} has no input {index}")
            if deadline is not None and time.monotonic() >= deadline:
                raise exception.TimeoutError(
                    f"{self.object_id} did not finish within {timeout} s; call get() again later"
                )

    @aio_iter
    async def iter(self, *, start: int = 0, end: int | None = None) -> AsyncIterator[Any]:
        """The results of inputs ``start`` to ``end`` (exclusive), in order."""
        client = await get_client()
        held: dict[int, protocol.OutputRecord] = {}
        cursor, index = 0, start
        while end is None or index < end:
            answer = await client.request(protocol.OutputsGet(call_id=self.object_id,
                                                              cursor=cursor))
            cursor = answer.cursor
            for record in answer.outputs:
                held[record.index] = record
            values = []
            while index in held and (end is None or index < end):
                values.append(await outcome(client, held.pop(index)))
                index += 1
            if values:
                yield values
            if answer.done and index not in held:
                return

    @aio
    async def cancel(self, terminate_containers: bool = False) -> None:
        """Stop the call: queued inputs are dropped and its results raise `InputCancellation`."""
        client = await get_client()
        await client.request(protocol.CallCancel(call_id=self.object_id,
                                                 terminate_containers=terminate_containers))

    @staticmethod
    def gather(*calls: FunctionCall) -> list[Any]:
        """Wait for several calls and return their results in order."""
        return _gather(*calls)

    def __repr__(self) -> str:
        return f"FunctionCall({self.object_id!r})"


async def _gather_async(*calls: FunctionCall) -> list[Any]:
    import asyncio

    return list(await asyncio.gather(*(call.get.aio() for call in calls)))


_gather = synchronizer.aio_function(_gather_async)
FunctionCall.gather.aio = _gather.aio  # type: ignore[attr-defined]
gather = _gather
