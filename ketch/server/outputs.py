"""Outputs reaching their call: the one path by which a result, an error, a retry's failure or
a cancellation becomes something a caller reads.

An output record is kept by its call (a late duplicate is not), counted in the call history,
marks its accepted input ended, and, for a durable call, is written to the store; a durable
call complete in the store is dropped from memory, and the store answers for it from then on.
"""

from __future__ import annotations

from ..protocol.client import OutputRecord
from .accepted import AcceptedInputs
from .call_history import CallHistory
from .calls import Call
from .state import State
from .store import Store


class Outputs:
    def __init__(self, state: State, store: Store, history: CallHistory,
                 accepted: AcceptedInputs) -> None:
        self.state = state
        self.store = store
        self.history = history
        self.accepted = accepted

    def deliver(self, call: Call, records: list[OutputRecord]) -> None:
        first = call.end
        kept = call.add(records)
        self.history.finished(call.id, call.function_id, kept, call.done)
        self.accepted.finished(call.id, kept)
        if call.done:
            self._ended(call)
        if call.durable and kept:
            self.store.add_outputs(call.id, first, kept)
            if call.done:
                self.store.finish_call(call.id)
                self.state.calls.pop(call.id, None)

    def counted(self, call: Call, expected: int) -> None:
        """The call has ``expected`` inputs in all (its outputs may all be in already)."""
        call.expected = expected
        if call.done:
            self.history.finished(call.id, call.function_id, [], True)
            self._ended(call)
        if call.durable:
            self.store.set_call_inputs(call.id, expected)
            if call.done:
                self.store.finish_call(call.id)
                self.state.calls.pop(call.id, None)
        call.wake()

    def _ended(self, call: Call) -> None:
        """A call made by a container's code no longer holds back inputs queued for it."""
        maker = self.state.containers.get(call.creator or "")
        if maker is not None:
            maker.calling.discard(call.id)
