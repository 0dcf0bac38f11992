"""Function calls as clients see them: create one, feed it inputs, read its outputs, cancel
it; and the blobs that carry payloads too large to travel inline.

`CallService` answers the call requests of `ketch.protocol.client`; the calls themselves live
in `State`, their inputs are fed to containers by `ContainerSessions`, and their outputs arrive
through `Outputs`.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from .. import exception
from ..protocol import client as protocol
from ..protocol import container as wire
from .accepted import AcceptedInputs
from .access import creator_of
from .auth import Identity
from .blobs import BlobStore
from .call_history import CallHistory
from .calls import Call
from .containers import ContainerSessions
from .dispatch import PendingInput
from .outputs import Outputs
from .state import State
from .store import Store

SPAWN_TTL_S = 24 * 3600.0


def new_call_id() -> str:
    return f"fc-{secrets.token_hex(8)}"


class CallService:
    def __init__(self, state: State, store: Store, blobs: BlobStore, history: CallHistory,
                 accepted: AcceptedInputs, outputs: Outputs, sessions: ContainerSessions
                 ) -> None:
        self.state = state
        self.store = store
        self.blobs = blobs
        self.history = history
        self.accepted = accepted
        self.outputs = outputs
        self.sessions = sessions

    async def call_create(self, req: protocol.CallCreate, caller: Identity
                          ) -> protocol.CallStarted:
        call = self.create(req.function_id, req.kind, req.records, creator_of(caller))
        if req.records is None or req.timeout == 0:
            return protocol.CallStarted(call_id=call.id)
        outputs = await self._read(call, 0, req.timeout)
        return protocol.CallStarted(call_id=call.id, outputs=outputs.outputs,
                                    cursor=outputs.cursor, done=outputs.done)

    def create(self, function_id: str, kind: str, records: list[protocol.InputRecord] | None,
               creator: str) -> Call:
        """A call of the function; with ``records``, these are all its inputs."""
        fn = self.state.function(function_id)
        app = self.state.app_of(fn)
        if app.stopped:
            raise exception.InvalidError(
                f"the app of function {fn.name!r} has stopped; run it again with `ketch run`"
            )
        call = Call(new_call_id(), function_id, kind, durable=kind == "spawn", creator=creator)
        self.state.calls[call.id] = call
        maker = self.state.containers.get(creator)  # a container's code made it
        if maker is not None:  # it may wait on the call: no inputs are prefetched behind it
            maker.calling.add(call.id)
        self.history.created(call.id, fn.app_id, fn.id, fn.name, kind)
        if call.durable:
            self.store.add_call(call.id, function_id, kind, SPAWN_TTL_S, app.environment)
        if records is not None:
            self.put(call, records)
            self.outputs.counted(call, len(records))
        return call

    async def inputs_put(self, req: protocol.InputsPut, caller: Identity) -> protocol.Empty:
        self.put(self.state.call(req.call_id), req.records)
        return protocol.Empty()

    def put(self, call: Call, records: list[protocol.InputRecord]) -> None:
        fn = self.state.functions[call.function_id]
        self.accepted.accept(call, records)  # in the store before the answer
        fn.pending.extend(PendingInput(call.id, r.index, r.method, r.args, r.blob_id)
                          for r in records)
        call.sent += len(records)
        self.sessions.pump(fn)

    async def inputs_done(self, req: protocol.InputsDone, caller: Identity) -> protocol.Empty:
        self.outputs.counted(self.state.call(req.call_id), req.count)
        return protocol.Empty()

    async def outputs_get(self, req: protocol.OutputsGet, caller: Identity
                          ) -> protocol.Outputs:
        call = self.state.calls.get(req.call_id)
        if call is None:
            return await self._stored_outputs(req.call_id, req.cursor, req.timeout)
        return await self._read(call, req.cursor, req.timeout)

    async def _read(self, call: Call, cursor: int, timeout: float | None) -> protocol.Outputs:
        records, end = await call.read(cursor, timeout)
        done = call.done and end == call.end
        if done and not call.durable:
            self.state.calls.pop(call.id, None)  # the caller has every output now
        return protocol.Outputs(outputs=records, cursor=end, done=done)

    async def call_cancel(self, req: protocol.CallCancel, caller: Identity) -> protocol.Empty:
        call = self.state.calls.get(req.call_id)
        if call is None:
            return protocol.Empty()
        self.state.cancelled.add(call.id)
        call.cancelled = True
        await self.sessions.drop(call, req.terminate_containers)
        message = b"the function call was cancelled"
        expected = call.expected if call.expected is not None else call.sent
        missing = [i for i in range(expected) if i not in call.finished]
        self.outputs.deliver(call, [protocol.OutputRecord(index=i, status=wire.Status.CANCELLED,
                                                          data=message) for i in missing])
        if call.expected is None:
            call.expected = expected
        return protocol.Empty()

    async def call_forget(self, req: protocol.CallForget, caller: Identity) -> protocol.Empty:
        call = self.state.calls.get(req.call_id)
        if call is not None and not call.durable:
            del self.state.calls[req.call_id]
        return protocol.Empty()

    async def blob_put(self, req: protocol.BlobPut, caller: Identity) -> protocol.BlobId:
        return protocol.BlobId(blob_id=self.blobs.put(req.data, req.environment))

    async def blob_get(self, req: protocol.BlobGet, caller: Identity) -> protocol.Data:
        return protocol.Data(data=self.blobs.get(req.blob_id))

    async def _stored_outputs(
        self, call_id: str, cursor: int, timeout: float | None
    ) -> protocol.Outputs:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            row = self.store.call(call_id)
            if row is None:
                raise exception.NotFoundError(f"no function call {call_id} (it may have expired)")
            if row["expires"] < time.time():
                raise exception.OutputExpiredError(f"the output of {call_id} has expired")
            records = self.store.outputs(call_id, cursor)
            if records or row["finished"]:
                return protocol.Outputs(outputs=records, cursor=cursor + len(records),
                                        done=bool(row["finished"]))
            if deadline is not None and time.monotonic() >= deadline:
                return protocol.Outputs(outputs=[], cursor=cursor, done=False)
            await asyncio.sleep(0.05)
