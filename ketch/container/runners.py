"""Runners pull inputs from the agent's inbox and run them with the function's concurrency.

`SyncRunner` runs plain functions on threads (the main thread alone when one input runs at a
time); `AsyncRunner` runs coroutine functions as tasks on an event loop in the main thread.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ..partial import run_hooks
from ..protocol import container as wire
from .execution import Execution

# Put in the inbox after the last input: no more will come (compared by identity).
STOP = wire.Input(call_id="", index=-1, method=None, args=None, blob_id=None)


class Runner:
    def __init__(self, execution: Execution, inbox: queue.SimpleQueue[wire.Input],
                 concurrency: int) -> None:
        self.ex = execution
        self.inbox = inbox
        self.concurrency = concurrency

    def run(self, enter: list[Callable[[], Any]], exit: list[Callable[[], Any]]) -> None:
        """Run ``enter`` hooks, then inputs until `STOP`, then ``exit`` hooks."""
        raise NotImplementedError


class SyncRunner(Runner):

    def run(self, enter: list[Callable[[], Any]], exit: list[Callable[[], Any]]) -> None:
        run_hooks(enter)
        threads = [threading.Thread(target=self._work, daemon=True)
                   for _ in range(self.concurrency - 1)]
        for thread in threads:
            thread.start()
        self._work()
        for thread in threads:
            thread.join()
        run_hooks(exit)

    def _take(self) -> wire.Input:
        record = self.inbox.get()
        if record is STOP:
            self.inbox.put(STOP)  # let the other threads see it too
        return record

    def _work(self) -> None:
        while True:
            record = self._take()
            if record is STOP:
                return
            if self.ex.batch is None:
                self.ex.run_sync(record, flush=self.inbox.empty())
            else:
                self.ex.run_batch(self._gather(record))

    def _gather(self, first: wire.Input) -> list[wire.Input]:
        assert self.ex.batch is not None
        size, wait_ms = self.ex.batch
        batch = [first]
        deadline = time.monotonic() + wait_ms / 1000
        while len(batch) < size:
            try:
                record = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if record is STOP:
                self.inbox.put(STOP)
                break
            batch.append(record)
        return batch


class AsyncRunner(Runner):

    def run(self, enter: list[Callable[[], Any]], exit: list[Callable[[], Any]]) -> None:
        import asyncio

        asyncio.run(self._main(enter, exit))

    async def _main(self, enter: list[Callable[[], Any]], exit: list[Callable[[], Any]]) -> None:
        import asyncio

        for hook in enter:
            result = hook()
            if inspect.isawaitable(result):
                await result
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[wire.Input] = asyncio.Queue()
        bridge = threading.Thread(target=self._bridge, daemon=True)
        bridge.start()
        await asyncio.gather(*(self._work() for _ in range(self.concurrency)))
        for hook in exit:
            result = hook()
            if inspect.isawaitable(result):
                await result

    def _bridge(self) -> None:
        while True:
            record = self.inbox.get()
            self.loop.call_soon_threadsafe(self.queue.put_nowait, record)
            if record is STOP:
                return

    async def _work(self) -> None:
        while True:
            record = await self.queue.get()
            if record is STOP:
                self.queue.put_nowait(STOP)
                return
            if self.ex.batch is None:
                await self._run(record, flush=self.queue.empty())
            else:
                await self._run_batch(await self._gather(record))

    async def _gather(self, first: wire.Input) -> list[wire.Input]:
        import asyncio

        assert self.ex.batch is not None
        size, wait_ms = self.ex.batch
        batch = [first]
        deadline = time.monotonic() + wait_ms / 1000
        while len(batch) < size:
            try:
                record = await asyncio.wait_for(self.queue.get(),
                                                max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                break
            if record is STOP:
                self.queue.put_nowait(STOP)
                break
            batch.append(record)
        return batch

    async def _run_batch(self, records: list[wire.Input]) -> None:
        started = time.perf_counter()
        try:
            f, columns, keywords = self.ex.batch_call(records)
            results = f(*columns, **keywords)
            if inspect.isawaitable(results):
                results = await results
        except BaseException as exc:  # the whole batch fails together
            self.ex.batch_failed(records, exc, started)
            return
        self.ex.batch_done(records, results, started)

    async def _run(self, record: wire.Input, flush: bool) -> None:
        started = time.perf_counter()
        target = self.ex.service.callable_for(record.method)
        if not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
            await self.loop.run_in_executor(None, self.ex.run_sync, record, flush)
            return
        try:
            f, args, kwargs = self.ex.begin(record)
            if inspect.isasyncgenfunction(f):
                async for item in f(*args, **kwargs):
                    self.ex.emit(record, wire.Status.GEN_ITEM, item, started, flush=True)
                self.ex.finish(record, wire.Status.GEN_DONE, None, started, flush=True)
            else:
                result = await f(*args, **kwargs)
                self.ex.finish(record, wire.Status.OK, result, started, flush)
        except BaseException as exc:  # anything the user's code raises goes back to the caller
            self.ex.fail(record, exc, started, flush)


class Beside:
    """A class's web endpoints and its methods' inputs, served by one container (a class with
    both ``@method``s and web endpoints): the hooks run once around both, the inputs run on a
    thread of their own once the web endpoints are up (``web.ready``: as in Modal, a
    ``web_server`` method's start-up is over before any input runs), and the web server
    (``web``, in this thread: uvicorn wants the main one) stops once they have seen `STOP`."""

    def __init__(self, web: Any, inputs: Runner, stopped: threading.Event) -> None:
        self.web = web
        self.inputs = inputs
        self.stopped = stopped  # the web runner waits on it

    def run(self, enter: list[Callable[[], Any]], exit: list[Callable[[], Any]]) -> None:
        run_hooks(enter)

        def inputs() -> None:
            try:
                self.web.ready.wait()
                self.inputs.run([], [])
            finally:
                self.stopped.set()

        threading.Thread(target=inputs, daemon=True).start()
        self.web.run([], [])
        run_hooks(exit)
