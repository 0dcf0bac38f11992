"""Function calls as clients see them: create one, feed it inputs, read its outputs, cancel
it; and the blobs that carry payloads too large to travel inline.

`CallService` answers the call requests of `ketch.protocol.client` for the control plane; the
calls themselves (`ControlPlane.calls`) and the queues they feed are the control plane's.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from .. import exception
from ..protocol import client as protocol
from ..protocol import container as wire
from .access import creator_of
from .auth import Identity
from .calls import Call
from .dispatch import PendingInput

if TYPE_CHECKING:
    from .control_plane import ControlPlane

SPAWN_TTL_S = 24 * 3600.0


def new_call_id() -> str:
    import secrets

    return f"fc-{secrets.token_hex(8)}"


class CallService:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane

    async def call_create(self, req: protocol.CallCreate, caller: Identity
                          ) -> protocol.CallId:
        call = self.create(req.function_id, req.kind, req.records, creator_of(caller))
        return protocol.CallId(call_id=call.id)

    def create(self, function_id: str, kind: str, records: list[protocol.InputRecord] | None,
               creator: str) -> Call:
        """A call of the function; with ``records``, these are all its inputs."""
        fn = self.cp._function(function_id)
        app = self.cp.apps[fn.app_id]
        if app.stopped:
            raise exception.InvalidError(
                f"the app of function {fn.name!r} has stopped; run it again with `ketch run`"
            )
        call = Call(new_call_id(), function_id, kind, durable=kind == "spawn", creator=creator)
        self.cp.calls[call.id] = call
        self.cp.history.created(call.id, fn.app_id, fn.id, fn.name, kind)
        if call.durable:
            self.cp.store.add_call(call.id, function_id, kind, SPAWN_TTL_S, app.environment)
        if records is not None:
            self.put(call, records)
            self.done(call, len(records))
        return call

    async def inputs_put(self, req: protocol.InputsPut, caller: Identity) -> protocol.Empty:
        self.put(self.cp._call(req.call_id), req.records)
        return protocol.Empty()

    def put(self, call: Call, records: list[protocol.InputRecord]) -> None:
        fn = self.cp.functions[call.function_id]
        self.cp.accepted.accept(call, records)  # in the store before the answer
        fn.pending.extend(PendingInput(call.id, r.index, r.method, r.args, r.blob_id)
                          for r in records)
        call.sent += len(records)
        self.cp.sessions.pump(fn)

    async def inputs_done(self, req: protocol.InputsDone, caller: Identity) -> protocol.Empty:
        self.done(self.cp._call(req.call_id), req.count)
        return protocol.Empty()

    def done(self, call: Call, count: int) -> None:
        call.expected = count
        if call.done:  # its outputs came before this count
            self.cp.history.finished(call.id, call.function_id, [], True)
        if call.durable:
            self.cp.store.set_call_inputs(call.id, count)
            if call.done:
                self.cp.store.finish_call(call.id)
                self.cp.calls.pop(call.id, None)
        call.wake()

    async def outputs_get(self, req: protocol.OutputsGet, caller: Identity
                          ) -> protocol.Outputs:
        call = self.cp.calls.get(req.call_id)
        if call is None:
            return await self._stored_outputs(req.call_id, req.cursor, req.timeout)
        records, end = await call.read(req.cursor, req.timeout)
        done = call.done and end == call.end
        if done and not call.durable:
            self.cp.calls.pop(req.call_id, None)  # the caller has every output now
        return protocol.Outputs(outputs=records, cursor=end, done=done)

    async def call_cancel(self, req: protocol.CallCancel, caller: Identity) -> protocol.Empty:
        call = self.cp.calls.get(req.call_id)
        if call is None:
            return protocol.Empty()
        call_id = call.id
        self.cp.cancelled.add(call_id)
        call.cancelled = True
        fn = self.cp.functions[call.function_id]
        fn.pending = type(fn.pending)(i for i in fn.pending if i.call_id != call_id)
        running = [ct for ct in fn.containers.values() if any(k[0] == call_id for k in ct.assigned)]
        for ct in running:
            keys = [k for k in ct.assigned if k[0] == call_id]
            if req.terminate_containers:
                await self.cp.sessions.stop_container(ct, requeue=True, grace_s=0.0)
            elif ct.peer is not None:
                ct.peer.notify(wire.CANCEL, keys)
        message = b"the function call was cancelled"
        expected = call.expected if call.expected is not None else call.sent
        missing = [i for i in range(expected) if i not in call.finished]
        self.add_outputs(call, [protocol.OutputRecord(index=i, status=wire.Status.CANCELLED,
                                                      data=message) for i in missing])
        if call.expected is None:
            call.expected = expected
        return protocol.Empty()

    async def call_forget(self, req: protocol.CallForget, caller: Identity) -> protocol.Empty:
        call = self.cp.calls.get(req.call_id)
        if call is not None and not call.durable:
            del self.cp.calls[req.call_id]
        return protocol.Empty()

    async def blob_put(self, req: protocol.BlobPut, caller: Identity) -> protocol.BlobId:
        return protocol.BlobId(blob_id=self.cp.blobs.put(req.data, req.environment))

    async def blob_get(self, req: protocol.BlobGet, caller: Identity) -> protocol.Data:
        return protocol.Data(data=self.cp.blobs.get(req.blob_id))

    def add_outputs(self, call: Call, records: list[protocol.OutputRecord]) -> None:
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
    ) -> protocol.Outputs:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = self.cp.store.call(call_id)
            if row is None:
                raise exception.NotFoundError(f"no function call {call_id} (it may have expired)")
            if row["expires"] < time.time():
                raise exception.OutputExpiredError(f"the output of {call_id} has expired")
            records = self.cp.store.outputs(call_id, cursor)
            if records or row["finished"]:
                return protocol.Outputs(outputs=records, cursor=cursor + len(records),
                                        done=bool(row["finished"]))
            if deadline is not None and time.monotonic() >= deadline:
                return protocol.Outputs(outputs=[], cursor=cursor, done=False)
            await asyncio.sleep(0.05)
