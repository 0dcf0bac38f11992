"""`ketch.Queue` through the embedded control plane, and inside real containers."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid

import pytest

import ketch
from ketch import exception
from ketch.server.queues import Waiters

from apps import dicts_queues


@pytest.fixture
def q():
    with ketch.Queue.ephemeral() as scratch:
        yield scratch


@pytest.fixture(scope="module")
def running():
    with dicts_queues.app.run():
        yield


def test_fifo_get_many_and_non_blocking_get(q):
    q.put(1)
    q.put_many(["two", [3], {"four": 4}])
    assert q.len() == 4
    assert q.get() == 1
    assert q.get_many(2) == ["two", [3]]
    assert q.get_many(10) == [{"four": 4}]  # up to n: what there is
    assert q.get(block=False) is None  # as in Modal: None, not queue.Empty
    assert q.get_many(3, block=False) == []


def test_partitions_are_independent_fifos(q):
    q.put_many([1, 2])
    q.put_many(["a", "b"], partition="letters")
    q.put("ü", partition="ünïcode")
    assert q.len() == 2 and q.len(partition="letters") == 2 and q.len(total=True) == 5
    assert q.get(partition="letters") == "a"
    assert q.get() == 1
    q.clear(partition="letters")
    assert q.len(partition="letters") == 0 and q.len() == 1
    q.clear(all=True)
    assert q.len(total=True) == 0


def test_timeouts_raise_queue_empty(q):
    start = time.monotonic()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.3)
    with pytest.raises(queue.Empty):
        q.get_many(5, timeout=0.1)
    assert 0.4 <= time.monotonic() - start < 2.0


def test_a_put_wakes_a_blocked_getter_at_once(q):
    got: list[tuple[object, float]] = []
    getter = threading.Thread(target=lambda: got.append((q.get(timeout=10), time.monotonic())))
    getter.start()
    time.sleep(0.3)
    put_at = time.monotonic()
    q.put("now")
    getter.join(5)
    assert got and got[0][0] == "now"
    assert got[0][1] - put_at < 0.1  # woken by the put, not by a poll


def test_twenty_blocked_getters_each_get_exactly_one_of_twenty_items(q):
    results: list[object] = []
    lock = threading.Lock()

    def getter() -> None:
        value = q.get(timeout=20)
        with lock:
            results.append(value)

    threads = [threading.Thread(target=getter) for _ in range(20)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # every getter is waiting on the control plane
    for i in range(10):
        q.put(i)
    q.put_many(list(range(10, 20)))
    for thread in threads:
        thread.join(10)
    assert sorted(results) == list(range(20))  # type: ignore[type-var]
    assert q.len() == 0


def test_twenty_blocked_aio_getters_and_a_cancelled_one():
    async def go(q):
        cancelled = asyncio.ensure_future(q.get.aio())
        await asyncio.sleep(0.1)  # first in line, so an item would go to it were it still there
        getters = [asyncio.ensure_future(q.get.aio(timeout=10)) for _ in range(20)]
        await asyncio.sleep(0.2)
        cancelled.cancel()
        await q.put_many.aio(list(range(20)))
        got = await asyncio.wait_for(asyncio.gather(*getters), 2)  # none waits for a lost wake
        await q.put.aio("last")
        return cancelled.cancelled(), sorted(got), await q.get.aio(timeout=5)

    with ketch.Queue.ephemeral() as q:
        assert asyncio.run(go(q)) == (True, list(range(20)), "last")


def test_a_woken_caller_that_is_cancelled_passes_its_wake_on():
    async def go() -> bool:
        waiters = Waiters()
        key = ("qu-x", "")
        first = asyncio.ensure_future(waiters.wait(key, None))
        second = asyncio.ensure_future(waiters.wait(key, None))
        await asyncio.sleep(0)
        waiters.wake(key, 1)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await asyncio.wait_for(second, 1)

    assert asyncio.run(go()) is True


def test_iterate_reads_without_removing_and_waits_for_later_items(q):
    q.put_many([1, 2, 3])
    assert list(q.iterate()) == [1, 2, 3]
    assert q.len() == 3

    def later() -> None:
        time.sleep(0.2)
        q.put(4)

    threading.Thread(target=later).start()
    start = time.monotonic()
    assert list(q.iterate(item_poll_timeout=1.0)) == [1, 2, 3, 4]
    assert time.monotonic() - start >= 1.0  # it waited item_poll_timeout after the last item


def test_limits_name_themselves(q):
    with pytest.raises(exception.RequestSizeError, match="1 MiB per item"):
        q.put(b"x" * (1 << 20))
    with pytest.raises(exception.InvalidError, match="1 to 64 bytes"):
        q.put(1, partition="p" * 65)
    with pytest.raises(exception.InvalidError, match="1 to 64 bytes"):
        q.put(1, partition="")
    with pytest.raises(exception.InvalidError, match="at most 5,000 items"):
        q.put_many([0] * 5001)
    q.put_many([0] * 5000)
    with pytest.raises(queue.Full, match="at most 5,000"):
        q.put(1, block=False)
    start = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(1, timeout=0.2)
    assert time.monotonic() - start >= 0.2
    assert q.len() == 5000
    q.put("other partition", partition="p")  # the limit is per partition


def test_a_blocked_put_goes_in_when_a_get_makes_room(q):
    q.put_many(list(range(5000)))
    done = threading.Event()

    def putter() -> None:
        q.put("waited", timeout=10)
        done.set()

    threading.Thread(target=putter).start()
    time.sleep(0.2)
    assert not done.is_set()
    assert q.get() == 0
    assert done.wait(5)
    assert q.len() == 5000


def test_deleting_a_queue_fails_its_blocked_getters_and_drops_items():
    name = f"q-{uuid.uuid4().hex[:12]}"
    q = ketch.Queue.from_name(name, create_if_missing=True)
    q.put("dropped", partition="p")
    errors: list[BaseException] = []

    def getter() -> None:
        try:
            q.get(timeout=10)
        except exception.Error as exc:
            errors.append(exc)

    thread = threading.Thread(target=getter)
    thread.start()
    time.sleep(0.2)
    ketch.Queue.delete(name)
    thread.join(5)
    assert errors and isinstance(errors[0], exception.NotFoundError)
    assert ketch.Queue.from_name(name, create_if_missing=True).len(total=True) == 0


def test_timeout_and_total_arguments_are_checked(q):
    with pytest.raises(exception.InvalidError, match=">= 0"):
        q.get(timeout=-1)
    with pytest.raises(exception.InvalidError, match="not both"):
        q.len(partition="p", total=True)
    with pytest.raises(exception.InvalidError, match="not both"):
        q.clear(partition="p", all=True)


def test_a_queue_passed_to_functions_connects_containers_and_this_process(running, q):
    consumer = dicts_queues.consume.spawn(q, 3, "jobs")
    time.sleep(0.5)
    q.put_many(["a", "b", "c"], partition="jobs")
    assert consumer.get(timeout=60) == ["a", "b", "c"]
    assert dicts_queues.produce.remote(q, [1, 2]) == 2
    assert q.get_many(5) == [1, 2]
