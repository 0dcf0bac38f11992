"""The queues service of the control plane: FIFO partitions kept in SQLite, and their waiters.

Items live in SQLite, so they survive a restart. A caller waiting on a partition (for an item,
or for room) is a future held here, woken by the put or get that changes the partition, so a
blocked getter has a new item as soon as it is put. The control plane runs on one event loop:
none of this needs a lock.

Limits (Modal's): an item is at most 1 MiB pickled, a partition key is 1 to 64 bytes of UTF-8,
a partition holds at most 5,000 items. The default partition is stored under the key ''.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .. import exception
from ..protocol import client as protocol
from .auth import Identity
from .objects import NamedObjects
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_items (
    id INTEGER PRIMARY KEY, queue_id TEXT NOT NULL, partition TEXT NOT NULL, value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS queue_items_fifo ON queue_items (queue_id, partition, id);
"""
MAX_ITEM_BYTES = 1 << 20
MAX_PARTITION_KEY_BYTES = 64
MAX_PARTITION_ITEMS = 5000

Key = tuple[str, str]  # (queue_id, partition)


class Waiters:
    """The callers waiting on each partition, oldest first.

    Example::

        woken = await getters.wait(key, timeout=5.0)   # elsewhere: getters.wake(key, 1)
    """

    def __init__(self) -> None:
        self._lines: dict[Key, deque[asyncio.Future[None]]] = {}

    def waiting(self, key: Key) -> bool:
        return bool(self._lines.get(key))

    async def wait(self, key: Key, timeout: float | None, *, first: bool = False) -> bool:
        """Wait until woken (True) or until ``timeout`` passes (False). ``first`` puts the
        caller at the head of the line: it was woken before, and another caller took the item."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        line = self._lines.setdefault(key, deque())
        if first:
            line.appendleft(future)
        else:
            line.append(future)
        try:
            done, _ = await asyncio.wait((future,), timeout=timeout)
        except asyncio.CancelledError:
            if future.done():
                self.wake(key, 1)  # the wake meant for this caller goes to the next in line
            else:
                self._remove(key, future)
            raise
        if not done:
            self._remove(key, future)
        return bool(done)

    def wake(self, key: Key, count: int) -> None:
        line = self._lines.get(key)
        while line and count > 0:
            line.popleft().set_result(None)
            count -= 1
        if not line:
            self._lines.pop(key, None)

    def wake_all(self, key: Key) -> None:
        self.wake(key, len(self._lines.get(key, ())))

    def wake_queue(self, queue_id: str) -> None:
        for key in [key for key in self._lines if key[0] == queue_id]:
            self.wake_all(key)

    def _remove(self, key: Key, future: asyncio.Future[None]) -> None:
        line = self._lines.get(key)
        if line is not None and future in line:
            line.remove(future)
            if not line:
                del self._lines[key]


class QueueService:
    """Answers the ``queue_*`` requests of `ketch.protocol.client`.

    Example::

        queues = QueueService(store, objects)
        await queues.queue_put(QueuePut(queue_id=q, values=[b"..."], timeout=0), caller)
        (await queues.queue_get(QueueGet(queue_id=q, timeout=5.0), caller)).values
    """

    def __init__(self, store: Store, objects: NamedObjects) -> None:
        self.store = store
        self.objects = objects
        self.getters = Waiters()
        self.putters = Waiters()
        store.ensure_schema(SCHEMA)
        objects.droppers["queue"] = self.drop

    def drop(self, object_id: str) -> None:
        """Forget everything the object held; its waiters wake to find it gone."""
        self.store.execute("DELETE FROM queue_items WHERE queue_id=?", (object_id,))
        self.getters.wake_queue(object_id)
        self.putters.wake_queue(object_id)

    async def queue_put(self, req: protocol.QueuePut, caller: Identity) -> protocol.Empty:
        queue_id, values = req.queue_id, req.values
        key = self._key(queue_id, req.partition)
        for value in values:
            if len(value) > MAX_ITEM_BYTES:
                raise exception.RequestSizeError(
                    f"a queue item is {len(value) / 2**20:.1f} MiB once pickled, over the limit "
                    f"of 1 MiB per item; put large data in a Volume and queue its path instead"
                )
        if len(values) > MAX_PARTITION_ITEMS:
            raise exception.InvalidError(
                f"a queue partition holds at most {MAX_PARTITION_ITEMS:,} items, and this put "
                f"has {len(values):,}; put fewer at a time"
            )
        deadline = _deadline(req.timeout)
        while values:
            held = self._count(key)
            if held + len(values) <= MAX_PARTITION_ITEMS:
                self.store.execute_many(
                    "INSERT INTO queue_items (queue_id, partition, value) VALUES (?, ?, ?)",
                    [(key[0], key[1], value) for value in values],
                )
                self.getters.wake(key, len(values))
                break
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                raise exception.ResourceExhaustedError(
                    f"the queue partition is full: it holds {held:,} items, and a partition "
                    f"holds at most {MAX_PARTITION_ITEMS:,} (this put has {len(values):,})"
                )
            await self.putters.wait(key, remaining)
            self.objects.kind_of(queue_id, "queue")  # it may have been deleted meanwhile
        return protocol.Empty()

    async def queue_get(self, req: protocol.QueueGet, caller: Identity) -> protocol.Values:
        queue_id, n = req.queue_id, req.n
        key = self._key(queue_id, req.partition)
        if n < 1:
            raise exception.InvalidError(f"a queue get takes at least 1 value, not {n!r}")
        deadline = _deadline(req.timeout)
        woken = False
        while True:
            values = self._take(key, n)
            if values:
                self.putters.wake_all(key)
                if self.getters.waiting(key) and self._count(key):
                    self.getters.wake(key, 1)  # what this caller left is for the next in line
                return protocol.Values(values=values)
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                return protocol.Values(values=[])
            # A caller woken for an item that another took keeps its place at the front.
            woken = await self.getters.wait(key, remaining, first=woken)
            self.objects.kind_of(queue_id, "queue")  # it may have been deleted meanwhile

    async def queue_len(self, req: protocol.QueueLen, caller: Identity) -> protocol.Length:
        key = self._key(req.queue_id, req.partition)
        if req.total and req.partition is not None:
            raise exception.InvalidError("a queue's total length counts every partition: "
                                         "pass either a partition or total=True, not both")
        if req.total:
            row = self.store.fetchone("SELECT COUNT(*) FROM queue_items WHERE queue_id=?",
                                      (req.queue_id,))
            return protocol.Length(len=row[0] if row else 0)
        return protocol.Length(len=self._count(key))

    async def queue_clear(self, req: protocol.QueueClear, caller: Identity) -> protocol.Empty:
        queue_id = req.queue_id
        key = self._key(queue_id, req.partition)
        if req.all and req.partition is not None:
            raise exception.InvalidError("clearing all partitions takes no partition: "
                                         "pass either a partition or all=True, not both")
        if req.all:
            self.store.execute("DELETE FROM queue_items WHERE queue_id=?", (queue_id,))
            self.putters.wake_queue(queue_id)
        else:
            self.store.execute("DELETE FROM queue_items WHERE queue_id=? AND partition=?", key)
            self.putters.wake_all(key)
        return protocol.Empty()

    async def queue_peek(self, req: protocol.QueuePeek, caller: Identity) -> protocol.Values:
        key = self._key(req.queue_id, req.partition)
        rows = self.store.fetchall(
            "SELECT value FROM queue_items WHERE queue_id=? AND partition=? ORDER BY id LIMIT ?",
            (*key, max(0, req.n)),
        )
        return protocol.Values(values=[row[0] for row in rows])

    def _key(self, queue_id: str, partition: str | None) -> Key:
        """Check the queue and the partition key; the default partition is ''."""
        self.objects.kind_of(queue_id, "queue")
        if partition is None:
            return queue_id, ""
        size = len(partition.encode()) if isinstance(partition, str) else 0
        if not 1 <= size <= MAX_PARTITION_KEY_BYTES:
            raise exception.InvalidError(
                f"queue partition key {partition!r} is {size} bytes: a partition key is a "
                f"string of 1 to {MAX_PARTITION_KEY_BYTES} bytes (UTF-8)"
            )
        return queue_id, partition

    def _count(self, key: Key) -> int:
        row = self.store.fetchone(
            "SELECT COUNT(*) FROM queue_items WHERE queue_id=? AND partition=?", key
        )
        return row[0] if row else 0

    def _take(self, key: Key, n: int) -> list[bytes]:
        # One statement reads and removes, so two control planes on one state directory never
        # hand out the same item.
        rows = self.store.fetchall(
            "DELETE FROM queue_items WHERE id IN (SELECT id FROM queue_items WHERE queue_id=? "
            "AND partition=? ORDER BY id LIMIT ?) RETURNING id, value", (*key, n),
        )
        return [value for _, value in sorted(rows)]


def _deadline(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if timeout < 0:
        raise exception.InvalidError(f"a timeout is a number of seconds >= 0, not {timeout}")
    return asyncio.get_running_loop().time() + timeout


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - asyncio.get_running_loop().time()
