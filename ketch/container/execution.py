"""Running one input (or one batch of inputs) and turning the outcome into output records."""

from __future__ import annotations

import inspect
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import context
from ..protocol import container as wire
from ..protocol.blocking_peer import BlockingPeer
from ..protocol.board import Board
from ..serialization import MAX_INLINE, pack_exception, serialize
from .outbox import Outbox

Status = wire.Status


class Execution:
    """What every runner needs: arguments in, outcome out, and the set of running inputs."""

    def __init__(self, service: Any, peer: BlockingPeer, outbox: Outbox, board: Board,
                 wake: threading.Event | None = None) -> None:
        """``wake`` is set as an input begins under a timeout: its deadline, for the watcher."""
        self.service = service
        self.peer = peer
        self.outbox = outbox
        self.board = board
        self.running: dict[tuple[str, int], tuple[float, int]] = {}
        self.finished = 0
        self.on_finished: Callable[[int], None] | None = None
        self.cancelled: set[tuple[str, int]] = set()
        options = service.definition.options
        self._wake = wake if options.timeout else None
        self.batch: tuple[int, int] | None = None
        if options.batch_max_size:
            self.batch = (options.batch_max_size, options.batch_wait_ms or 0)

    def begin(self, record: wire.Input
              ) -> tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]:
        call_id, index, args = record.call_id, record.index, record.args
        self.running[(call_id, index)] = (time.monotonic(), self.board.start(call_id, index))
        if self._wake is not None:
            self._wake.set()
        context.set_current_input(call_id, index)
        if args is None:
            args = self.peer.request(wire.BLOB_GET, wire.BlobGet(blob_id=record.blob_id or ""),
                                     wire.Data).data
        positional, keywords = pickle.loads(args)
        return self.service.callable_for(record.method), positional, keywords

    def finish(self, record: wire.Input, status: str, value: Any, started: float,
               flush: bool) -> None:
        call_id, index = record.call_id, record.index
        self.emit(record, status, value, started, flush)
        _, slot = self.running.pop((call_id, index), (0.0, -1))
        self.board.end(slot)  # if the container dies before the output leaves, it is requeued
        self.finished += 1
        if self.on_finished is not None:
            self.on_finished(self.finished)

    def emit(self, record: wire.Input, status: str, value: Any, started: float,
             flush: bool) -> None:
        call_id, index = record.call_id, record.index
        if (call_id, index) in self.cancelled:
            return
        data: bytes | None
        if status == Status.ERROR:
            data = pack_exception(value)
        elif status == Status.GEN_DONE:
            data = None
        else:
            try:
                data = serialize(value, "return value")
            except Exception as exc:
                status, data = Status.ERROR, pack_exception(exc)
        blob_id = None
        if data is not None and len(data) > MAX_INLINE:
            blob_id = self.peer.request(wire.BLOB_PUT, wire.BlobPut(data=data), wire.BlobId).blob_id
            data = None
        duration = time.perf_counter() - started
        self.outbox.add(wire.Output(call_id=call_id, index=index, status=status, data=data,
                                    blob_id=blob_id, duration_s=duration), flush=flush)

    def fail(self, record: wire.Input, exc: BaseException, started: float, flush: bool) -> None:
        self.finish(record, Status.ERROR, exc, started, flush)

    def run_sync(self, record: wire.Input, flush: bool) -> None:
        started = time.perf_counter()
        try:
            f, args, kwargs = self.begin(record)
            result = f(*args, **kwargs)
            if inspect.isgenerator(result):
                for item in result:
                    self.emit(record, Status.GEN_ITEM, item, started, flush=True)
                self.finish(record, Status.GEN_DONE, None, started, flush=True)
            else:
                self.finish(record, Status.OK, result, started, flush)
        except BaseException as exc:  # anything the user's code raises goes back to the caller
            self.fail(record, exc, started, flush)

    def batch_call(
        self, records: list[wire.Input]
    ) -> tuple[Callable[..., Any], list[list[Any]], dict[str, list[Any]]]:
        """The batched function and its arguments, one list per parameter."""
        calls = [self.begin(record) for record in records]
        columns = [list(col) for col in zip(*(args for _, args, _ in calls))]
        keywords = {k: [kw[k] for _, _, kw in calls] for k in calls[0][2]}
        return calls[0][0], columns, keywords

    def batch_done(self, records: list[wire.Input], results: Any, started: float) -> None:
        results = list(results)
        if len(results) != len(records):
            error = ValueError(
                f"a @batched function must return one result per input: it got "
                f"{len(records)} inputs and returned {len(results)} results"
            )
            self.batch_failed(records, error, started)
            return
        for record, result in zip(records, results):
            self.finish(record, Status.OK, result, started, flush=False)
        self.outbox.flush()

    def batch_failed(self, records: list[wire.Input], exc: BaseException, started: float
                     ) -> None:
        for record in records:
            self.fail(record, exc, started, flush=False)
        self.outbox.flush()

    def run_batch(self, records: list[wire.Input]) -> None:
        started = time.perf_counter()
        try:
            f, columns, keywords = self.batch_call(records)
            results = f(*columns, **keywords)
        except BaseException as exc:  # the whole batch fails together
            self.batch_failed(records, exc, started)
            return
        self.batch_done(records, results, started)
