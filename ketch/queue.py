"""`Queue`: a distributed FIFO queue kept by the control plane, as Modal's ``modal.Queue``.

A queue has a default partition and any number of named ones, each its own FIFO. Items are
pickled with cloudpickle and kept in the control plane's SQLite file, so they survive a restart.
A blocked ``get`` is woken as soon as an item is put. Limits (Modal's): an item is at most
1 MiB pickled, a partition key at most 64 bytes, a partition holds at most 5,000 items.
"""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # asyncio loads when a queue is used: containers start faster without it
    import asyncio

from . import exception
from .object import NamedObject
from .protocol import client as protocol
from .serialization import deserialize, serialize
from .synchronizer import aio, aio_iter

# One request waits at most this long, then the SDK asks again: a caller that went away stops
# holding a place in line on the control plane soon after.
REQUEST_WAIT_S = 50.0
# A partition holds at most 5,000 items, so a peek this long sees all of it.
WHOLE_PARTITION = 5000
# How often `iterate` looks for new items while item_poll_timeout lasts.
ITERATE_POLL_S = 0.05


class Queue(NamedObject):
    """A FIFO queue that functions, containers and other programs share.

    Example::

        q = ketch.Queue.from_name("jobs", create_if_missing=True)
        q.put_many([1, 2, 3])
        assert q.get() == 1 and q.get_many(5) == [2, 3]
        q.put("x", partition="user-7")
        q.get(timeout=1.0)                    # raises queue.Empty after 1 s

        with ketch.Queue.ephemeral() as scratch:   # gone when the block ends
            worker.spawn(scratch)                 # a function that calls scratch.get()
            scratch.put("job")

        item = await q.get.aio()   # in async code: every method has a .aio form
    """

    KIND = "queue"

    @aio
    async def put(self, v: Any, block: bool = True, timeout: float | None = None, *,
                  partition: str | None = None) -> None:
        """Add ``v`` at the end. When the partition is full, wait for room (up to ``timeout``)
        if ``block``, and raise ``queue.Full`` when there is none."""
        await self._put([v], block, timeout, partition)

    @aio
    async def put_many(self, vs: list[Any], block: bool = True, timeout: float | None = None,
                       *, partition: str | None = None) -> None:
        """Add every value of ``vs`` at the end, in order, all at once."""
        await self._put(list(vs), block, timeout, partition)

    @aio
    async def get(self, block: bool = True, timeout: float | None = None, *,
                  partition: str | None = None) -> Any:
        """Remove and return the first item. If ``block``, wait for one (up to ``timeout``,
        then raise ``queue.Empty``); if not, return None when the partition is empty."""
        values = await self._get(1, block, timeout, partition)
        return values[0] if values else None

    @aio
    async def get_many(self, n_values: int, block: bool = True, timeout: float | None = None,
                       *, partition: str | None = None) -> list[Any]:
        """Remove and return up to ``n_values`` items, waiting only for the first (as
        ``get`` does); without ``block``, an empty partition gives []."""
        return await self._get(n_values, block, timeout, partition)

    @aio
    async def len(self, *, partition: str | None = None, total: bool = False) -> int:
        """The number of items in the partition, or in every partition with ``total``."""
        client, queue_id = await self._resolve()
        answer = await client.request(protocol.QueueLen(queue_id=queue_id, partition=partition,
                                                        total=total))
        return int(answer.len)

    @aio
    async def clear(self, *, partition: str | None = None, all: bool = False) -> None:
        """Remove every item of the partition, or of every partition with ``all``."""
        client, queue_id = await self._resolve()
        await client.request(protocol.QueueClear(queue_id=queue_id, partition=partition, all=all))

    @aio_iter
    async def iterate(self, *, partition: str | None = None,
                      item_poll_timeout: float = 0.0) -> AsyncIterator[list[Any]]:
        """The items, oldest first, without removing them; then any put later, until none has
        come for ``item_poll_timeout`` seconds."""
        client, queue_id = await self._resolve()
        import asyncio

        loop = asyncio.get_running_loop()
        seen = 0
        deadline = loop.time() + item_poll_timeout
        while True:
            answer = await client.request(protocol.QueuePeek(queue_id=queue_id, n=WHOLE_PARTITION,
                                                             partition=partition))
            new = answer.values[seen:]
            if new:
                seen += len(new)
                deadline = loop.time() + item_poll_timeout
                yield [deserialize(value, "queue item") for value in new]
            elif loop.time() >= deadline:
                return
            else:
                await asyncio.sleep(min(ITERATE_POLL_S, deadline - loop.time()))

    async def _put(self, values: list[Any], block: bool, timeout: float | None,
                   partition: str | None) -> None:
        data = [serialize(value, "queue item") for value in values]
        client, queue_id = await self._resolve()
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = _deadline(loop, block, timeout)
        while True:
            wait = _request_wait(loop, deadline)
            try:
                await client.request(protocol.QueuePut(queue_id=queue_id, values=data,
                                                       partition=partition, timeout=wait))
                return
            except exception.ResourceExhaustedError as exc:
                if deadline is not None and loop.time() >= deadline:
                    raise queue.Full(str(exc)) from None

    async def _get(self, n: int, block: bool, timeout: float | None,
                   partition: str | None) -> list[Any]:
        client, queue_id = await self._resolve()
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = _deadline(loop, block, timeout)
        while True:
            wait = _request_wait(loop, deadline)
            answer = await client.request(protocol.QueueGet(queue_id=queue_id, n=n,
                                                            partition=partition, timeout=wait))
            if answer.values:
                return [deserialize(value, "queue item") for value in answer.values]
            if not block:
                return []
            if deadline is not None and loop.time() >= deadline:
                raise queue.Empty()


def _deadline(loop: asyncio.AbstractEventLoop, block: bool, timeout: float | None
              ) -> float | None:
    if not block:
        return loop.time()  # as in the standard library, the timeout is then ignored
    if timeout is not None and timeout < 0:
        raise exception.InvalidError(f"a timeout is a number of seconds >= 0, not {timeout}")
    return None if timeout is None else loop.time() + timeout


def _request_wait(loop: asyncio.AbstractEventLoop, deadline: float | None) -> float:
    if deadline is None:
        return REQUEST_WAIT_S
    return max(0.0, min(REQUEST_WAIT_S, deadline - loop.time()))
