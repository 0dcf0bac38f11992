"""Firing scheduled functions (``schedule=ketch.Cron(...)`` or ``ketch.Period(...)``).

Each scheduled function has a next firing time, counted from when its app started (or was
brought back after a restart). Firings missed while no control plane ran are skipped, not
replayed in a burst: the next one is always computed from now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..protocol.client import InputRecord
from ..schedule import Schedule
from ..serialization import serialize

if TYPE_CHECKING:
    from .call_service import CallService
    from .dispatch import FunctionState
    from .state import State

    Log = Callable[[FunctionState, str, str, str], None]  # function, container, stream, text

NO_ARGUMENTS = serialize(((), {}))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Scheduler:
    def __init__(self, state: State, calls: CallService, log: Log) -> None:
        self.state = state
        self.calls = calls
        self.log = log
        self.next_fire: dict[str, dt.datetime] = {}  # function id -> when it fires next

    def add(self, fn: FunctionState) -> None:
        spec = fn.options.schedule
        if spec and fn.params is None:
            self.next_fire[fn.id] = Schedule.from_wire(spec).next_after(now())

    def upcoming(self) -> list[tuple[str, dt.datetime]]:
        """Each scheduled function's id and its next firing, soonest first."""
        return sorted(self.next_fire.items(), key=lambda item: item[1])

    async def tick(self) -> None:
        current = now()
        for function_id, when in list(self.next_fire.items()):
            fn = self.state.functions.get(function_id)
            if fn is None or self.state.apps[fn.app_id].stopped:
                del self.next_fire[function_id]
                continue
            if current < when:
                continue
            self.next_fire[function_id] = Schedule.from_wire(fn.options.schedule or {}).next_after(
                max(current, when))
            call = self.calls.create(
                fn.id, "spawn", [InputRecord(index=0, method=None, args=NO_ARGUMENTS,
                                             blob_id=None)], creator="schedule")
            self.log(fn, "", "stderr", f"schedule fired {fn.name} ({call.id})")
