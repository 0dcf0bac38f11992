"""Accepted inputs, kept in the store until their final output is in, and brought back after
a restart.

The inputs of ``.spawn``, ``.spawn_map`` and ``.map`` calls are written to the store before
the control plane answers the request that brought them, so a control plane killed while they
wait or run does not lose them. A ``.remote`` call's input is not written: its caller holds the
connection and sees it close at once, nobody could read a result made after a restart, and the
warm round trip stays free of writes.

What happens later is buffered and written on each tick (`flush`): that an input was handed to
a container (``started``), that it was retried (``attempt``), that its final output is in (the
row goes). A crash loses at most one tick of these marks, so an input may run once more than it
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

import logging
from typing import TYPE_CHECKING, Any

import msgpack

from ..protocol.container import Status
from .calls import Call
from .dispatch import FunctionState, PendingInput

if TYPE_CHECKING:
    from .control_plane import ControlPlane

log = logging.getLogger("ketch")

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted_inputs (
    call_id TEXT NOT NULL, idx INTEGER NOT NULL, function_id TEXT NOT NULL,
    payload BLOB NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
    started INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (call_id, idx)
) WITHOUT ROWID;
"""
RECORDED_KINDS = frozenset({"spawn", "map"})
CALL_TTL_S = 24 * 3600.0  # as a spawned call's (`call_service.SPAWN_TTL_S`)


class AcceptedInputs:
    """The ``accepted_inputs`` table and the marks waiting for the next `flush`."""

    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.store = control_plane.store
        self.store.ensure_schema(SCHEMA)
        self.calls: set[str] = set()  # calls whose inputs are in the table
        self._started: list[tuple[str, int]] = []
        self._attempts: dict[tuple[str, int], int] = {}
        self._finished: list[tuple[str, int]] = []

    def accept(self, call: Call, records: list[list[Any]]) -> None:
        """Write a call's new inputs ``[index, method, args, blob_id]`` (before the answer)."""
        if call.kind not in RECORDED_KINDS:
            return
        self.calls.add(call.id)
        self.store.execute_many(
            "INSERT OR REPLACE INTO accepted_inputs (call_id, idx, function_id, payload) "
            "VALUES (?, ?, ?, ?)",
            [(call.id, r[0], call.function_id, msgpack.packb(r[1:4])) for r in records],
        )

    def started(self, records: list[list[Any]]) -> None:
        """Inputs ``[call_id, index, …]`` just handed to a container."""
        if self.calls:
            self._started.extend((r[0], r[1]) for r in records if r[0] in self.calls)

    def retried(self, item: PendingInput) -> None:
        if item.call_id in self.calls:
            self._attempts[(item.call_id, item.index)] = item.attempt

    def finished(self, call_id: str, records: list[list[Any]]) -> None:
        """Output records ``[index, status, …]`` kept for a call: the final ones end inputs."""
        if call_id in self.calls:
            self._finished.extend((call_id, r[0]) for r in records if r[1] in Status.FINAL)

    def flush(self) -> None:
        started, attempts, done = self._started, self._attempts, self._finished
        if not (started or attempts or done):
            return
        self._started, self._attempts, self._finished = [], {}, []
        if started:
            self.store.execute_many(
                "UPDATE accepted_inputs SET started=1 WHERE call_id=? AND idx=?", started)
        if attempts:
            self.store.execute_many(
                "UPDATE accepted_inputs SET attempt=? WHERE call_id=? AND idx=?",
                [(n, c, i) for (c, i), n in attempts.items()])
        if done:
            self.store.execute_many(
                "DELETE FROM accepted_inputs WHERE call_id=? AND idx=?", done)
        # a call that has ended gets no more inputs
        self.calls = {call_id for call_id in self.calls if call_id in self.cp.calls}

    # -- after a restart -----------------------------------------------------------------------

    def recover(self) -> None:
        """Queue again or fail every input a previous control plane accepted and did not end."""
        rows = self.store.fetchall(
            "SELECT call_id, idx, function_id, payload, attempt, started FROM accepted_inputs "
            "ORDER BY call_id, idx")
        by_call: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_call.setdefault(row[0], []).append(row)
        requeued = failed = 0
        for call_id, items in by_call.items():
            call = self._restore_call(call_id, items[0][2], [row[1] for row in items])
            self.calls.add(call_id)
            for _, index, function_id, payload, attempt, started in items:
                if index in call.finished:  # its output was stored before the crash
                    self._finished.append((call_id, index))
                    continue
                method, args, blob_id = msgpack.unpackb(payload)
                item = PendingInput(call_id, index, method, args, blob_id, attempt)
                problem = self._requeue(function_id, item, bool(started))
                if problem is None:
                    requeued += 1
                else:
                    failed += 1
                    self.cp.call_service.add_outputs(
                        call, [[index, Status.DIED, problem.encode(), None]])
            if call.done and call_id in self.cp.calls:  # every input had ended before
                self.store.finish_call(call_id)
                del self.cp.calls[call_id]
        self.flush()
        if rows:
            log.warning("the control plane restarted: %d accepted inputs queued again, %d failed",
                        requeued, failed)

    def _restore_call(self, call_id: str, function_id: str, pending: list[int]) -> Call:
        """The call as a durable one whose inputs not in ``pending`` had ended before."""
        row = self.store.call(call_id)
        if row is None:  # a .map's call: kept in the store from now on
            self.store.add_call(call_id, function_id, "map", CALL_TTL_S)
            row = {"kind": "map", "inputs": None}
        expected = row["inputs"] if row["inputs"] is not None else max(pending) + 1
        self.store.set_call_inputs(call_id, expected)
        call = Call(call_id, function_id, row["kind"], durable=True)
        stored = self.store.outputs(call_id, 0)
        call.add(stored)  # so that new outputs go after them, and a late duplicate is dropped
        call.finished |= set(range(expected)) - set(pending)
        call.sent = call.expected = expected
        self.cp.calls[call_id] = call
        return call

    def _function(self, function_id: str) -> FunctionState | None:
        """The function, or its class bound to the same parameters again (a bound class is
        made on first use, so a restart brings back only the class)."""
        fn = self.cp.functions.get(function_id)
        if fn is not None:
            return fn
        row = self.store.fetchone("SELECT params FROM functions WHERE id=?", (function_id,))
        parent = self.cp.functions.get(function_id.rsplit("-", 1)[0])
        if row is None or row[0] is None or parent is None:
            return None
        bound = self.cp._bind(parent, row[0], stored=True)
        return bound if bound.id == function_id else None

    def _requeue(self, function_id: str, item: PendingInput, started: bool) -> str | None:
        """Queue ``item`` again; or say why it cannot be."""
        fn = self._function(function_id)
        if fn is None or self.cp.apps[fn.app_id].stopped:
            return self._gone(function_id)
        if started:
            policy = fn.options.get("retries")
            if not policy or fn.definition["is_generator"] or item.attempt >= policy["max_retries"]:
                return _spent(fn, item.attempt, policy["max_retries"] if policy else 0)
            item.attempt += 1
            self._attempts[(item.call_id, item.index)] = item.attempt
            delay = policy["initial_delay"] * policy["backoff_coefficient"] ** (item.attempt - 1)
            fn.delay(item, min(delay, policy["max_delay"]))
        else:
            fn.pending.append(item)
        return None

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
