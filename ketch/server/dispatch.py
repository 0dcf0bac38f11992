"""Per-function queues and the containers that drain them.

`FunctionState` holds a function's queued inputs and its containers; `fill` hands queued
inputs to containers with room, in batches, and `release` takes back a dead container's inputs
so they can be retried. The control plane sends the batches; nothing here does I/O.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import time
from typing import Any

from ..protocol import container as wire
from ..protocol.definition import FunctionDefinition, FunctionOptions
from ..protocol.peer import Peer
from ..protocol.worker import UsageSample
from . import autoscaler

PREFETCH_BUDGET_S = 0.005
MAX_PREFETCH = 255
EWMA = 0.2


class PendingInput:
    __slots__ = ("call_id", "index", "method", "args", "blob_id", "attempt", "assigned_at")

    def __init__(
        self, call_id: str, index: int, method: str | None, args: bytes | None,
        blob_id: str | None, attempt: int = 0,
    ) -> None:
        self.call_id = call_id
        self.index = index
        self.method = method
        self.args = args
        self.blob_id = blob_id
        self.attempt = attempt
        self.assigned_at = 0.0

    def record(self) -> wire.Input:
        return wire.Input(call_id=self.call_id, index=self.index, method=self.method,
                          args=self.args, blob_id=self.blob_id, attempt=self.attempt)


class ContainerState:
    def __init__(self, container_id: str, function_id: str, token: str) -> None:
        self.id = container_id
        self.function_id = function_id
        self.token = token
        self.peer: Peer | None = None
        self.stopping = False
        self.assigned: dict[tuple[str, int], PendingInput] = {}
        self.created = time.monotonic()
        self.last_seen = self.created
        self.idle_since = self.created
        self.exit_reason: str | None = None
        self.requeue_all = False
        self.outputs_seen = 0
        self.inputs_given = 0  # over its life: max_inputs retires it after that many
        self.web_port = 0  # a web endpoint's container: where it serves HTTP, once ready
        self.served = False  # a web endpoint's container: it said once that it was ready
        self.web_servers: dict[str, int] = {}  # a class's web_server methods: their ports
        self.web_active = 0  # requests it is answering now
        self.failure: bytes | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.usage: UsageSample | None = None  # the worker's latest sample of its cgroup
        self.answered: set[str] = set()  # calls it gave outputs to since its last sample
        self.forked = False  # the worker forked it from a zygote: no interpreter starts
        # calls its code made that have not ended: its running inputs may be waiting on them
        self.calling: set[str] = set()

    @property
    def ready(self) -> bool:
        return self.peer is not None and not self.stopping

    def port_for(self, method: str | None) -> int:
        """Where the container serves the web endpoint of ``method`` (None: the function's)."""
        return self.web_servers.get(method or "", self.web_port)

    def calls_since_sample(self) -> list[str]:
        """The calls its last usage sample is billed to: those it holds inputs of now, and
        those it answered since the sample before (a call may end between two samples)."""
        calls = {call_id for call_id, _ in self.assigned} | self.answered
        self.answered = set()
        return sorted(calls)


class FunctionState:
    def __init__(
        self, function_id: str, app_id: str, definition: FunctionDefinition,
        params: bytes | None
    ) -> None:
        self.id = function_id
        self.family_id = function_id  # a class bound to parameters: its class's function id
        self.image: dict[str, Any] | None = None  # the built image, once built
        self.web_waiting = 0  # web requests waiting for a container with room
        self.web_waiting_since: list[float] = []  # when each waiting request began to wait
        self.start_failed_at = -1.0  # when a container of it last ended before it could serve
        self.app_id = app_id
        self.definition = definition
        self.params = params
        self.options: FunctionOptions = definition.options  # overridden by update_autoscaler
        self.pending: collections.deque[PendingInput] = collections.deque()
        self.delayed: list[tuple[float, int, PendingInput]] = []
        self._seq = itertools.count()
        self.containers: dict[str, ContainerState] = {}
        self.input_s: float | None = None
        self.cold_start_s = 0.2
        self.waiting_said = -1e9

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def concurrency(self) -> int:
        return self.options.concurrency

    def window(self) -> int:
        extra = 0
        if self.input_s is not None:
            extra = min(MAX_PREFETCH, int(PREFETCH_BUDGET_S / max(self.input_s, 1e-6)))
        return self.concurrency + extra

    def delay(self, item: PendingInput, seconds: float) -> None:
        heapq.heappush(self.delayed, (time.monotonic() + seconds, next(self._seq), item))

    def release_due(self, now: float) -> None:
        while self.delayed and self.delayed[0][0] <= now:
            self.pending.append(heapq.heappop(self.delayed)[2])

    def fill(self, cancelled: set[str]) -> list[tuple[ContainerState, list[wire.Input]]]:
        """Assign queued inputs to ready containers; return the batches to send."""
        batches = []
        window = self.window()
        now = time.monotonic()
        for ct in self.containers.values():
            if not self.pending:
                break
            if not ct.ready:
                continue
            # no inputs queued behind one that may wait on them (a call of its own function)
            room = (self.concurrency if ct.calling else window) - len(ct.assigned)
            lifetime = self.options.inputs_per_container
            if lifetime:
                room = min(room, lifetime - ct.inputs_given)
            records = []
            while room > 0 and self.pending:
                item = self.pending.popleft()
                if item.call_id in cancelled:
                    continue
                item.assigned_at = now
                ct.assigned[(item.call_id, item.index)] = item
                ct.inputs_given += 1
                records.append(item.record())
                room -= 1
            if records:
                batches.append((ct, records))
        return batches

    def observe(self, duration_s: float) -> None:
        if self.input_s is None:
            self.input_s = duration_s
        else:
            self.input_s += EWMA * (duration_s - self.input_s)

    def estimate_input_s(self, now: float) -> tuple[float | None, bool]:
        """Seconds per input: the measured average, or longer while one has run longer (the
        estimate then grows with time: the second value)."""
        oldest = min([item.assigned_at for ct in self.containers.values()
                      for item in ct.assigned.values()] + self.web_waiting_since, default=None)
        if oldest is None or now - oldest < (self.input_s or 0.0):
            return self.input_s, False
        return now - oldest, True

    def snapshot(self, now: float) -> autoscaler.Snapshot:
        running = sum(len(ct.assigned) + ct.web_active for ct in self.containers.values())
        live = [ct for ct in self.containers.values() if not ct.stopping]
        ready = [ct for ct in live if ct.peer is not None]
        opts = self.options
        input_s, grows = self.estimate_input_s(now)
        return autoscaler.Snapshot(
            pending=len(self.pending) + len(self.delayed) + self.web_waiting,
            running=running,
            ready=len(ready),
            starting=len(live) - len(ready),
            idle_s={ct.id: now - ct.idle_since for ct in ready
                    if not ct.assigned and not ct.web_active},
            concurrency=opts.target_inputs or self.concurrency,
            input_s=input_s,
            input_s_grows=grows,
            cold_start_s=self.cold_start_s,
            min_containers=opts.min_containers or 0,
            max_containers=opts.max_containers,
            buffer_containers=opts.buffer_containers or 0,
            scaledown_window_s=float(opts.scaledown_window or 60.0),
        )
