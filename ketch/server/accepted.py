"""Accepted inputs, kept in the store until their final output is in, and brought back after
a restart.

The inputs of ``.spawn``, ``.spawn_map`` and ``.map`` calls are written to the store (one row
per request: a map's thousand inputs are one write) before the control plane answers the
request that brought them, so a control plane killed while they wait or run does not lose
them. A ``.remote`` call's input is not written: its caller holds the
connection and sees it close at once, nobody could read a result made after a restart, and the
warm round trip stays free of writes.

What happens later is buffered and written on each tick (`flush`): that an input was handed to
a container (``started``), that it was retried (``attempts``), that its final output is in
(``ended``; a row goes once all its inputs have ended). A crash loses at most one tick of these marks, so an input may run once more than it
had to, never fewer times than it should.

When a control plane starts (`recover`, after the deployed apps are back), every input still in
the table is queued again, or failed with an error that says the control plane restarted:

- an input not yet handed to a container is queued again, no attempt charged;
- an input that was running is charged an attempt, as a container's death is: queued again
  under the function's ``retries`` (with its backoff), failed once they are spent;
- an input whose app did not come back (a ``ketch run`` app, detached or not, or an app
  stopped or replaced by a newer deployment) fails, naming why.

Recovered calls are kept in the store like spawned ones, so ``FunctionCall.from_id(id)`` reads
their outputs (a ``.map``'s too: the map's caller lost its connection with the old control
plane).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol.client import InputRecord, OutputRecord
from ..protocol.container import Input, Status
from ..protocol.message import decode, encode
from .calls import Call
from .dispatch import FunctionState, PendingInput

if TYPE_CHECKING:
    from .state import State
    from .store import Store

Deliver = Callable[[Call, list[OutputRecord]], None]  # `Outputs.deliver`
Bind = Callable[[FunctionState, bytes], FunctionState]  # a stored class bound again

log = logging.getLogger("ketch")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted_inputs (
    call_id TEXT NOT NULL, first INTEGER NOT NULL, function_id TEXT NOT NULL,
    records BLOB NOT NULL, started BLOB NOT NULL, ended BLOB NOT NULL, attempts BLOB,
    PRIMARY KEY (call_id, first)
) WITHOUT ROWID;
"""
RECORDED_KINDS = frozenset({"spawn", "map"})
CALL_TTL_S = 24 * 3600.0  # as a spawned call's (`call_service.SPAWN_TTL_S`)


class Batch:
    """The inputs of one request, in one row: a write per request, not per input (a `.map`
    sends a thousand at a time). ``started`` and ``ended`` hold a byte per index from
    ``first``; an index the request did not carry counts as ended."""

    __slots__ = ("call_id", "first", "started", "ended", "attempts", "left", "dirty")

    def __init__(self, call_id: str, first: int, started: bytearray, ended: bytearray,
                 attempts: dict[int, int]) -> None:
        self.call_id = call_id
        self.first = first
        self.started = started
        self.ended = ended
        self.attempts = attempts  # index -> attempt, for the inputs retried
        self.left = ended.count(0)
        self.dirty = False

    def holds(self, index: int) -> bool:
        return 0 <= index - self.first < len(self.ended)

    def row(self) -> tuple[Any, ...]:
        attempts = encode(list(self.attempts.items())) if self.attempts else None
        return (bytes(self.started), bytes(self.ended), attempts, self.call_id, self.first)


class AcceptedInputs:
    """The ``accepted_inputs`` table, and the marks waiting for the next `flush`."""

    def __init__(self, store: Store, state: State) -> None:
        self.store = store
        self.state = state
        self.store.ensure_schema(SCHEMA)
        self._batches: dict[str, list[Batch]] = {}  # call id -> its batches, by first index
        self._dirty: list[Batch] = []
        self._hint: Batch | None = None  # the batch found last

    def accept(self, call: Call, records: list[InputRecord]) -> None:
        """Write a call's new inputs (before the answer)."""
        if call.kind not in RECORDED_KINDS or not records:
            return
        first = min(r.index for r in records)
        ended = bytearray(b"\1") * (max(r.index for r in records) - first + 1)
        for record in records:
            ended[record.index - first] = 0
        batch = Batch(call.id, first, bytearray(len(ended)), ended, {})
        self.store.execute(
            "INSERT OR REPLACE INTO accepted_inputs (call_id, first, function_id, records, "
            "started, ended) VALUES (?, ?, ?, ?, ?, ?)",
            (call.id, first, call.function_id, encode(records), bytes(batch.started),
             bytes(ended)),
        )
        self._add(batch)

    def started(self, records: list[Input]) -> None:
        """Inputs just handed to a container."""
        if not self._batches:
            return
        batch: Batch | None = None
        for record in records:  # a map's many inputs: the loop is kept to plain attributes
            call_id, index = record.call_id, record.index
            if batch is None or batch.call_id != call_id or not batch.holds(index):
                if batch is not None:
                    self._touch(batch)
                batch = self._find(call_id, index)
                if batch is None:
                    continue
            batch.started[index - batch.first] = 1
        if batch is not None:
            self._touch(batch)

    def retried(self, item: PendingInput) -> None:
        batch = self._find(item.call_id, item.index)
        if batch is not None:
            batch.attempts[item.index] = item.attempt
            self._touch(batch)

    def finished(self, call_id: str, records: list[OutputRecord]) -> None:
        """Output records kept for a call: the final ones end inputs."""
        if call_id not in self._batches:
            return
        batch: Batch | None = None
        final = Status.FINAL
        for record in records:
            index = record.index
            if record.status not in final:
                continue
            if batch is None or not batch.holds(index):
                batch = self._find(call_id, index)
                if batch is None:
                    continue
            at = index - batch.first
            if not batch.ended[at]:
                batch.ended[at] = 1
                batch.left -= 1
                self._touch(batch)

    def flush(self) -> None:
        """Write the marks made since the last flush; a batch whose inputs all ended goes."""
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, []
        for batch in dirty:
            batch.dirty = False
        gone = [b for b in dirty if b.left == 0]
        self.store.execute_many(
            "UPDATE accepted_inputs SET started=?, ended=?, attempts=? WHERE call_id=? AND "
            "first=?", [b.row() for b in dirty if b.left])
        self.store.execute_many("DELETE FROM accepted_inputs WHERE call_id=? AND first=?",
                                [(b.call_id, b.first) for b in gone])
        self._hint = None
        for batch in gone:
            batches = self._batches[batch.call_id]
            batches.remove(batch)
            if not batches:
                del self._batches[batch.call_id]

    def _add(self, batch: Batch) -> None:
        batches = self._batches.setdefault(batch.call_id, [])
        if batches and batch.first < batches[-1].first:
            bisect.insort(batches, batch, key=lambda b: b.first)
        else:
            batches.append(batch)

    def _find(self, call_id: str, index: int) -> Batch | None:
        hint = self._hint  # inputs mostly start and end in the order they came
        if hint is not None and hint.call_id == call_id and 0 <= index - hint.first < len(hint.ended):
            return hint
        batches = self._batches.get(call_id)
        if not batches:
            return None
        at = bisect.bisect(batches, index, key=lambda b: b.first) - 1
        if at >= 0 and batches[at].holds(index):
            self._hint = batches[at]
            return self._hint
        return None

    def _end(self, batch: Batch, index: int) -> None:
        if not batch.ended[index - batch.first]:
            batch.ended[index - batch.first] = 1
            batch.left -= 1
            self._touch(batch)

    def _touch(self, batch: Batch) -> None:
        if not batch.dirty:
            batch.dirty = True
            self._dirty.append(batch)

    # -- after a restart -----------------------------------------------------------------------

    def recover(self, deliver: Deliver, bind: Bind) -> None:
        """Queue again or fail every input a previous control plane accepted and did not end:
        failures are ``deliver``ed; a class bound to parameters is ``bind``ed again."""
        rows = self.store.fetchall(
            "SELECT call_id, first, function_id, records, started, ended, attempts "
            "FROM accepted_inputs ORDER BY call_id, first")
        by_call: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_call.setdefault(row[0], []).append(row)
        requeued = failed = 0
        for call_id, call_rows in by_call.items():
            pending: list[tuple[Batch, InputRecord, str]] = []
            last = 0
            for _, first, function_id, records, started, ended, attempts in call_rows:
                batch = Batch(call_id, first, bytearray(started), bytearray(ended),
                              dict(decode(attempts, list[tuple[int, int]], "attempts"))
                              if attempts else {})
                self._add(batch)
                last = max(last, first + len(batch.ended) - 1)
                for record in decode(records, list[InputRecord], "accepted inputs"):
                    if not batch.ended[record.index - first]:
                        pending.append((batch, record, function_id))
            call = self._restore_call(call_id, call_rows[0][2], last,
                                      {record.index for _, record, _ in pending})
            for batch, record, function_id in pending:
                index = record.index
                if index in call.finished:  # its output was stored before the crash
                    self._end(batch, index)
                    continue
                attempt = batch.attempts.get(index, 0)
                item = PendingInput(call_id, index, record.method, record.args, record.blob_id,
                                    attempt)
                problem = self._requeue(self._function(function_id, bind), function_id, item,
                                        bool(batch.started[index - batch.first]))
                if problem is None:
                    requeued += 1
                else:
                    failed += 1
                    deliver(call, [OutputRecord(index=index, status=Status.DIED,
                                                data=problem.encode())])
            if call.done and call_id in self.state.calls:  # every input had ended before
                self.store.finish_call(call_id)
                del self.state.calls[call_id]
        self.flush()
        if rows:
            log.warning("the control plane restarted: %d accepted inputs queued again, %d failed",
                        requeued, failed)

    def _restore_call(self, call_id: str, function_id: str, last: int,
                      pending: set[int]) -> Call:
        """The call, as a durable one, whose inputs not in ``pending`` had ended before."""
        row = self.store.call(call_id)
        if row is None:  # a .map's call: kept in the store from now on
            self.store.add_call(call_id, function_id, "map", CALL_TTL_S,
                                self._environment(function_id))
            row = {"kind": "map", "inputs": None}
        expected = row["inputs"] if row["inputs"] is not None else last + 1
        self.store.set_call_inputs(call_id, expected)
        call = Call(call_id, function_id, row["kind"], durable=True)
        call.add(self.store.outputs(call_id, 0))  # new outputs go after them
        call.finished |= set(range(expected)) - pending
        call.sent = call.expected = expected
        self.state.calls[call_id] = call
        return call

    def _function(self, function_id: str, bind: Bind) -> FunctionState | None:
        """The function, or its class bound to the same parameters again (a bound class is
        made on first use, so a restart brings back only the class)."""
        fn = self.state.functions.get(function_id)
        if fn is not None:
            return fn
        row = self.store.fetchone("SELECT params FROM functions WHERE id=?", (function_id,))
        parent = self.state.functions.get(function_id.rsplit("-", 1)[0])
        if row is None or row[0] is None or parent is None:
            return None
        bound = bind(parent, row[0])
        return bound if bound.id == function_id else None

    def _requeue(self, fn: FunctionState | None, function_id: str, item: PendingInput,
                 started: bool) -> str | None:
        """Queue ``item`` again on ``fn`` (the function ``function_id``, if it is back); or
        say why it cannot be."""
        if fn is None or self.state.app_of(fn).stopped:
            return self._gone(function_id)
        if started:
            policy = fn.options.retries
            if not policy or fn.definition.is_generator or item.attempt >= policy.max_retries:
                return _spent(fn, item.attempt, policy.max_retries if policy else 0)
            item.attempt += 1
            self.retried(item)
            fn.delay(item, policy.delay(item.attempt))
        else:
            fn.pending.append(item)
        return None

    def _environment(self, function_id: str) -> str:
        row = self.store.fetchone("SELECT a.environment FROM functions f JOIN apps a "
                                  "ON a.id = f.app_id WHERE f.id=?", (function_id,))
        return str(row[0]) if row else "main"

    def _gone(self, function_id: str) -> str:
        row = self.store.fetchone(
            "SELECT f.name, a.name, a.state, EXISTS (SELECT 1 FROM deployments d "
            "WHERE d.app_id = a.id) FROM functions f JOIN apps a ON a.id = f.app_id "
            "WHERE f.id=?", (function_id,))
        if row is None:
            return (f"the control plane restarted and function {function_id} is no longer in "
                    "its store; this input was not run again")
        function, app, state, deployed = row
        if state == "stopped":
            why = (f"its app {app!r} was stopped (or replaced by a newer deployment) before the "
                   "restart")
        elif not deployed:
            why = (f"its app {app!r} was not deployed: a `ketch run` app (detached too) ends "
                   "with its control plane. Deploy it with `ketch deploy` for its calls to "
                   "survive a restart")
        else:
            why = f"its app {app!r} did not come back"
        return (f"the control plane restarted while this input of {function!r} was queued or "
                f"running, and {why}; it was not run again")


def _spent(fn: FunctionState, attempt: int, retries: int) -> str:
    tried = f"it was tried {attempt + 1} time{'s' if attempt else ''}"
    if retries == 0:
        advice = ("the function has no retries, so it was not run again (give it "
                  "retries=N in @app.function for inputs to run again after a restart)")
    else:
        advice = f"the function allows {retries} retries, all spent, so it was not run again"
    return (f"the control plane restarted while this input of {fn.name!r} ran; {tried}, and "
            f"{advice}")
