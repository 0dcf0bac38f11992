"""Function calls as clients see them: create one, feed it inputs, read its outputs, cancel it.

`CallService` answers the call requests of `ketch.protocol.client` for the control plane; the
calls themselves (`ControlPlane.calls`) and the queues they feed are the control plane's.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from .. import exception
from ..protocol import client as client_protocol
from ..protocol import container as wire
from .calls import Call
from .dispatch import PendingInput

if TYPE_CHECKING:
    from .control_plane import ControlPlane

SPAWN_TTL_S = 24 * 3600.0
REQUESTS = ("call_create", "inputs_put", "inputs_done", "outputs_get", "call_cancel",
            "call_forget")


def new_call_id() -> str:
    import secrets

    return f"fc-{secrets.token_hex(8)}"


class CallService:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane

    async def call_create(
        self, function_id: str, kind: str, records: list[list[Any]] | None = None
    ) -> dict[str, Any]:
        fn = self.cp._function(function_id)
        if self.cp.apps[fn.app_id].stopped:
            raise exception.InvalidError(
                f"the app of function {fn.name!r} has stopped; run it again with `ketch run`"
            )
        call = Call(new_call_id(), function_id, kind, durable=kind == "spawn")
        self.cp.calls[call.id] = call
        self.cp.history.created(call.id, fn.app_id, fn.id, fn.name, kind)
        if call.durable:
            self.cp.store.add_call(call.id, function_id, kind, SPAWN_TTL_S)
        if records is not None:
            await self.inputs_put(call.id, records)
            await self.inputs_done(call.id, len(records))
        return {"call_id": call.id}

    async def inputs_put(self, call_id: str, records: list[list[Any]]) -> dict[str, Any]:
        call = self.cp._call(call_id)
        fn = self.cp.functions[call.function_id]
        self.cp.accepted.accept(call, records)  # in the store before the answer
        fn.pending.extend(PendingInput(call_id, *record) for record in records)
        call.sent += len(records)
        self.cp.sessions.pump(fn)
        return {}

    async def inputs_done(self, call_id: str, count: int) -> dict[str, Any]:
        call = self.cp._call(call_id)
        call.expected = count
        if call.done:  # its outputs came before this count
            self.cp.history.finished(call_id, call.function_id, [], True)
        if call.durable:
            self.cp.store.set_call_inputs(call_id, count)
            if call.done:
                self.cp.store.finish_call(call_id)
                self.cp.calls.pop(call_id, None)
        call.wake()
        return {}

    async def outputs_get(
        self, call_id: str, cursor: int, timeout: float | None
    ) -> dict[str, Any]:
        call = self.cp.calls.get(call_id)
        if call is None:
            return await self._stored_outputs(call_id, cursor, timeout)
        records, end = await call.read(cursor, timeout)
        done = call.done and end == call.end
        if done and not call.durable:
            self.cp.calls.pop(call_id, None)  # the caller has every output now
        return client_protocol.outputs_answer(records, end, done)

    async def call_cancel(self, call_id: str, terminate_containers: bool) -> dict[str, Any]:
        call = self.cp.calls.get(call_id)
        if call is None:
            return {}
        self.cp.cancelled.add(call_id)
        call.cancelled = True
        fn = self.cp.functions[call.function_id]
        fn.pending = type(fn.pending)(i for i in fn.pending if i.call_id != call_id)
        running = [ct for ct in fn.containers.values() if any(k[0] == call_id for k in ct.assigned)]
        for ct in running:
            keys = [list(k) for k in ct.assigned if k[0] == call_id]
            if terminate_containers:
                await self.cp.sessions.stop_container(ct, requeue=True, grace_s=0.0)
            elif ct.peer is not None:
                ct.peer.notify(*wire.cancel(keys))
        message = b"the function call was cancelled"
        expected = call.expected if call.expected is not None else call.sent
        missing = [i for i in range(expected) if i not in call.finished]
        self.add_outputs(call, [[i, wire.Status.CANCELLED, message, None] for i in missing])
        if call.expected is None:
            call.expected = expected
        return {}

    async def call_forget(self, call_id: str) -> dict[str, Any]:
        call = self.cp.calls.get(call_id)
        if call is not None and not call.durable:
            del self.cp.calls[call_id]
        return {}

    def add_outputs(self, call: Call, records: list[list[Any]]) -> None:
        first = call.end
        kept = call.add(records)
        self.cp.history.finished(call.id, call.function_id, kept, call.done)
        self.cp.accepted.finished(call.id, kept)
        if call.durable and kept:
            self.cp.store.add_outputs(call.id, first, kept)
            if call.done:
                self.cp.store.finish_call(call.id)
                self.cp.calls.pop(call.id, None)  # complete in the store, which answers from now on

    async def _stored_outputs(
        self, call_id: str, cursor: int, timeout: float | None
    ) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = self.cp.store.call(call_id)
            if row is None:
                raise exception.NotFoundError(f"no function call {call_id} (it may have expired)")
            if row["expires"] < time.time():
                raise exception.OutputExpiredError(f"the output of {call_id} has expired")
            records = self.cp.store.outputs(call_id, cursor)
            if records or row["finished"]:
                return client_protocol.outputs_answer(
                    records, cursor + len(records), bool(row["finished"])
                )
            if deadline is not None and time.monotonic() >= deadline:
                return client_protocol.outputs_answer([], cursor, False)
            await asyncio.sleep(0.05)
