"""How busy each web container is, and the wait for one with room.

A container takes as many requests at once as its function's ``@concurrent`` capacity; the
gateway picks the least busy ready container with room and counts the request on it
(``web_active``, which the autoscaler and the metrics read) until it is over. With none, a
request waits while the autoscaler (which counts waiting requests as queued work) starts
containers, and is given up (503) once it has waited `QUEUE_S`, or at once when `MAX_WAITING`
requests already wait; a container that fails before it serves (an import error, a failing
factory or ``@enter``) ends the wait of the requests waiting for it (502), whose next container
would fail the same way. The requests on connections handed to containers are counted from the
containers' reports (`gateway_handoff`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .gateway_config import Refused
from .wakeup import Wakeup

if TYPE_CHECKING:
    from ..protocol.handoff import Tally
    from .control_plane import ControlPlane
    from .dispatch import ContainerState, FunctionState

QUEUE_S = 60.0
MAX_WAITING = 2000
BUSY = "the endpoint is at capacity; try again shortly\n"
FAILED_START = ("the endpoint's container failed while starting; the app's output says why "
                "(`ketch app logs APP` for a deployed app)\n")


def retry_after(refusal: Refused) -> list[tuple[str, str]]:
    """The headers of a refused request's answer: when to try again, if it was busy."""
    return [("retry-after", "5")] if refusal.text == BUSY else []


class Capacity:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.wakeups: dict[str, Wakeup] = {}

    def wake(self, fn: FunctionState) -> None:
        """A container of ``fn`` may have room now."""
        self.wakeups.setdefault(fn.id, Wakeup()).wake()

    async def acquire(self, fn: FunctionState) -> ContainerState:
        """A ready container with room, counted as busy with one more request; Refused past
        the queue's bound or its time (503), or when a container fails while starting (502)."""
        ct = self._pick(fn)
        if ct is not None:  # the common case: no waiting, nothing for the autoscaler to do
            ct.web_active += 1
            return ct
        deadline = time.monotonic() + QUEUE_S
        if fn.web_waiting >= MAX_WAITING:
            raise Refused(503, BUSY)
        fn.web_waiting += 1
        began = time.monotonic()
        fn.web_waiting_since.append(began)  # its wait tells the autoscaler how slow it goes
        try:
            self.cp.sessions.scale(fn)
            while True:
                ct = self._pick(fn)
                if ct is not None:
                    ct.web_active += 1
                    return ct
                if fn.start_failed_at >= began:
                    raise Refused(502, FAILED_START)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Refused(503, BUSY)
                await self.wakeups.setdefault(fn.id, Wakeup()).wait(min(remaining, 1.0))
        finally:
            fn.web_waiting -= 1
            fn.web_waiting_since.remove(began)

    def _pick(self, fn: FunctionState) -> ContainerState | None:
        capacity = fn.concurrency
        ready = [ct for ct in fn.containers.values()
                 if ct.web_port and not ct.stopping and ct.web_active < capacity]
        return min(ready, key=lambda ct: ct.web_active) if ready else None

    def release(self, fn: FunctionState, ct: ContainerState, seconds: float | None) -> None:
        """The request ``acquire`` counted is over (``seconds``: how long it took, if it ran)."""
        ct.web_active -= 1
        if seconds is not None:
            fn.observe(seconds)
        if ct.web_active == 0:
            ct.idle_since = time.monotonic()
        self.wake(fn)

    def loaded(self, ct: ContainerState, change: int, labels: dict[str, Tally]) -> None:
        """A container's report of the requests on connections handed to it: ``change`` to
        its count in flight, and per label those finished (`ketch.protocol.handoff`)."""
        ct.web_active += change
        fn = self.cp.state.functions.get(ct.function_id)
        done = sum(sum(tally.codes.values()) for tally in labels.values())
        if ct.web_active == 0 and (change or done):
            ct.idle_since = time.monotonic()
        if fn is None:
            return
        if done:
            fn.observe(sum(tally.seconds for tally in labels.values()) / done)
        for label, tally in labels.items():
            self.cp.metrics.gateway_tally(label, tally)
        if change < 0:
            self.wake(fn)
