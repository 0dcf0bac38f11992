"""The control plane's side of containers: start, feed, retry, scale down and bury them.

`ContainerSessions` talks to container agents (`ketch.protocol.container`) and asks the worker
for containers (`ketch.protocol.worker`); it keeps the functions' queues and containers in
`State`, and hands what comes back to `Outputs`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec

from .. import exception
from ..protocol import container as wire
from ..protocol.client import BlobId, Data, OutputRecord
from ..protocol.message import decode
from ..protocol.peer import Peer
from ..protocol.worker import ContainerExit, ContainerSpec, Worker
from . import autoscaler
from .accepted import AcceptedInputs
from .blobs import BlobStore
from .call_history import CallHistory
from .calls import Call
from .changes import Changes
from .dispatch import ContainerState, FunctionState, PendingInput
from .metrics import Metrics
from .outputs import Outputs
from .state import State

Spec = Callable[[FunctionState, str, str], ContainerSpec]  # function, container id, token
Log = Callable[[FunctionState, str, str, str, "str | None"], None]

log = logging.getLogger("ketch")
Status = wire.Status
HEARTBEAT_TIMEOUT_S = 30.0
# Containers starting at once. An interpreter start is CPU work, part of it (the launcher's)
# outside any container's cgroup, so starting a hundred together on two cores makes each of
# them (and the inputs already running) wait for all the others. A fork from a zygote is a
# few milliseconds, spent in the container's own cgroup (whose weight its cpu request sets),
# and its waits (a cgroup to join, a socket to answer) overlap: more may start at once.
MAX_STARTING = 2 * (os.cpu_count() or 1)
MAX_FORKING = 8 * (os.cpu_count() or 1)


class ContainerSessions:
    """``spec`` describes a function's container for the worker; ``log`` says a line to the
    app's watchers; ``web_ready`` is given a web endpoint's container when it serves, with its
    ``web_ready`` frame; ``web_failed`` a function one of whose containers ended before it
    could serve."""

    def __init__(self, state: State, worker: Worker, outputs: Outputs, accepted: AcceptedInputs,
                 metrics: Metrics, blobs: BlobStore, history: CallHistory, changes: Changes,
                 spec: Spec, log: Log,
                 web_ready: Callable[[ContainerState, wire.WebReady], None],
                 web_failed: Callable[[FunctionState], None]) -> None:
        self.state = state
        self.worker = worker
        self.outputs = outputs
        self.accepted = accepted
        self.metrics = metrics
        self.blobs = blobs
        self.history = history
        self.changes = changes
        self.spec = spec
        self.log = log
        self.web_ready = web_ready
        self.web_failed = web_failed
        self._scale_soon: set[str] = set()
        self._rechecks: dict[str, asyncio.TimerHandle] = {}  # function id → its next plan

    # -- frames from agents --------------------------------------------------------------------

    async def on_container_frame(self, peer: Peer, kind: str, raw: msgspec.Raw) -> Any:
        if kind not in wire.FRAMES:
            raise exception.InvalidError(f"containers may not send {kind!r}")
        body = decode(raw, wire.FRAMES[kind], kind)
        if kind == wire.HELLO:
            return self._hello(peer, body)
        ct: ContainerState = peer.info["container"]
        ct.last_seen = time.monotonic()
        if kind == wire.OUTPUTS:
            self._on_outputs(ct, body)
        elif kind == wire.EXITING:
            ct.exit_reason = body.reason
            ct.requeue_all = body.requeue_others
            ct.failure = body.failure
        elif kind == wire.WEB_READY:
            ct.web_port = body.port
            ct.web_servers = body.servers
            ct.served = True
            self.web_ready(ct, body)
        elif kind == wire.BLOB_GET:
            return Data(data=self.blobs.get(body.blob_id, self._environment(ct)))
        elif kind == wire.BLOB_PUT:
            return BlobId(blob_id=self.blobs.put(body.data, self._environment(ct)))
        elif kind != wire.HEARTBEAT:
            raise exception.InvalidError(f"the control plane does not take {kind!r} from "
                                         "containers")
        return None

    def _environment(self, ct: ContainerState) -> str:
        return self.state.app_of(self.state.functions[ct.function_id]).environment

    def _hello(self, peer: Peer, body: wire.Hello) -> wire.Welcome:
        ct = self.state.containers.get(body.container_id)
        if ct is None or not secrets.compare_digest(ct.token, body.token):
            raise exception.AuthError("unknown container or wrong container token")
        fn = self.state.functions[ct.function_id]
        peer.info["container"] = ct
        ct.peer = peer
        ct.last_seen = ct.idle_since = time.monotonic()
        fn.cold_start_s += 0.3 * ((ct.last_seen - ct.created) - fn.cold_start_s)
        self.metrics.container_ready(fn, ct.last_seen - ct.created)
        self.changes.note("containers", fn.app_id)
        asyncio.get_running_loop().call_soon(self.pump, fn)
        self._scale_waiting()
        app = self.state.app_of(fn)
        return wire.Welcome(definition=fn.definition, params=fn.params, app_id=app.id,
                            app_functions=self.state.named_functions(app))

    def _on_outputs(self, ct: ContainerState, records: list[wire.Output]) -> None:
        fn = self.state.functions[ct.function_id]
        ct.outputs_seen += len(records)
        by_call: dict[str, list[OutputRecord]] = {}
        for record in records:
            call_id, index, status, duration = (record.call_id, record.index, record.status,
                                                record.duration_s)
            key = (call_id, index)
            item = ct.assigned.get(key) if status == Status.GEN_ITEM else ct.assigned.pop(key, None)
            if item is None:
                # Not an input this container holds (another app's call, or one already answered,
                # cancelled or given to another container): its caller must never read it.
                log.warning("container %s sent an output for %s/%s, which it was not given",
                            ct.id, call_id, index)
                continue
            if duration:
                fn.observe(duration)
            if status in Status.FAILURES and self._retry(fn, item):
                continue
            self.history.ran(call_id, index, item.attempt + 1, duration)
            by_call.setdefault(call_id, []).append(
                OutputRecord(index=index, status=status, data=record.data,
                             blob_id=record.blob_id))
        ct.answered.update(by_call)
        for call_id, outs in by_call.items():
            call = self.state.calls.get(call_id)
            if call is not None and not call.cancelled:
                self.outputs.deliver(call, outs)
        if not ct.assigned:
            ct.idle_since = time.monotonic()
        self.pump(fn)

    def _retry(self, fn: FunctionState, item: PendingInput) -> bool:
        policy = fn.options.retries
        if not policy or item.attempt >= policy.max_retries or fn.definition.is_generator:
            return False
        if item.call_id in self.state.cancelled:
            return False
        item.attempt += 1
        self.accepted.retried(item)
        fn.delay(item, policy.delay(item.attempt))
        return True

    # -- feeding and scaling -------------------------------------------------------------------

    def pump(self, fn: FunctionState) -> None:
        if fn.delayed:
            fn.release_due(time.monotonic())
        for ct, records in fn.fill(self.state.cancelled):
            self.accepted.started(records)
            self.changes.note("calls", fn.app_id)  # queued inputs now run
            ct.peer.notify(wire.INPUTS, records)  # type: ignore[union-attr]  # fill takes ready ones
        # Only inputs left waiting need a container now; the tick and the autoscaler's
        # rechecks make every other change, so a warm call does not plan twice.
        if fn.pending or fn.delayed or fn.web_waiting:
            self._scale_soon_once(fn)

    def _scale_soon_once(self, fn: FunctionState) -> None:
        """Plan ``fn`` once the events in hand are handled (once, however many asked)."""
        if fn.id not in self._scale_soon:
            self._scale_soon.add(fn.id)
            asyncio.get_running_loop().call_soon(self._scale_later, fn)

    def _scale_later(self, fn: FunctionState) -> None:
        self._scale_soon.discard(fn.id)
        self.scale(fn)

    def scale(self, fn: FunctionState) -> None:
        if self.state.app_of(fn).stopped:
            return
        plan = autoscaler.plan(fn.snapshot(time.monotonic()))
        if plan.recheck_s is not None:
            self._recheck(fn, plan.recheck_s)
        for container_id in plan.stop:
            asyncio.ensure_future(self.stop_container(fn.containers[container_id], requeue=True))
        for _ in range(plan.start):
            launching, forking = self.state.starting()
            if launching >= MAX_STARTING or launching + forking >= MAX_FORKING:
                break  # more at once would only starve each other's start; the tick goes on
            if not self.worker.fits(self.spec(fn, "", "")):
                self._evict_idle(fn)  # frees room for a later tick
                self._say_waiting(fn)
                break
            self._start_container(fn)

    def _scale_waiting(self) -> None:
        """A start slot is free: functions with work waiting may use it."""
        for fn in self.state.functions.values():
            if fn.pending or fn.web_waiting:
                self._scale_soon_once(fn)

    def _recheck(self, fn: FunctionState, delay_s: float) -> None:
        """Plan ``fn`` again after ``delay_s``, unless it is planned sooner already."""
        loop = asyncio.get_running_loop()
        due = loop.time() + delay_s
        timer = self._rechecks.get(fn.id)
        if timer is not None and not timer.cancelled() and timer.when() <= due:
            return
        if timer is not None:
            timer.cancel()
        self._rechecks[fn.id] = loop.call_at(due, self._rechecked, fn)

    def _rechecked(self, fn: FunctionState) -> None:
        del self._rechecks[fn.id]
        if fn.id in self.state.functions:
            self.scale(fn)

    def _say_waiting(self, fn: FunctionState) -> None:
        """Tell the app's watchers, at most every 10 s, that inputs wait for resources."""
        now = time.monotonic()
        if now - fn.waiting_said < 10.0:
            return
        fn.waiting_said = now
        opts = fn.options
        request = f"cpu={opts.cpu or 0.125}, memory={opts.memory or 128} MiB"
        text = (f"waiting for resources: a container needs {request}; the node has "
                f"{self.worker.describe_free()}")
        self.log(fn, "", "stderr", text, None)

    def _start_container(self, fn: FunctionState) -> None:
        ct = ContainerState(f"ct-{secrets.token_hex(6)}", fn.id, secrets.token_urlsafe(24))
        self.state.containers[ct.id] = ct
        fn.containers[ct.id] = ct
        self.metrics.container_started(fn)
        self.changes.note("containers", fn.app_id)
        started = asyncio.ensure_future(self.worker.start_container(self.spec(fn, ct.id, ct.token)))
        started.add_done_callback(lambda task: self._started(ct, task))

    def _started(self, ct: ContainerState, task: asyncio.Future[bool]) -> None:
        """A fork does not hold a slot of the interpreters' starts: give it to others."""
        if task.cancelled() or task.exception() is not None or not task.result():
            return
        ct.forked = True
        self._scale_waiting()

    def _evict_idle(self, wanting: FunctionState) -> None:
        """Stop the longest-idle container of another function, to make room for ``wanting``."""
        idle = [
            ct for ct in self.state.containers.values()
            if ct.function_id != wanting.id and ct.ready and not ct.assigned
        ]
        if idle:
            victim = min(idle, key=lambda ct: ct.idle_since)
            asyncio.ensure_future(self.stop_container(victim, requeue=True))

    async def stop_container(
        self, ct: ContainerState, *, requeue: bool, grace_s: float = 10.0
    ) -> None:
        if ct.stopping and grace_s > 0:
            return
        ct.stopping = True
        ct.requeue_all = requeue
        if ct.peer is not None and grace_s > 0:
            ct.peer.notify(wire.SHUTDOWN, wire.Shutdown())
            deadline = time.monotonic() + grace_s
            while ct.id in self.state.containers and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        if ct.id in self.state.containers:
            await self.worker.stop_container(ct.id, grace_s=1.0)

    async def drop(self, call: Call, terminate_containers: bool) -> None:
        """Take a cancelled call's inputs out of the queue, and out of the containers that hold
        them: told to drop them, or stopped with ``terminate_containers``."""
        fn = self.state.functions[call.function_id]
        fn.pending = type(fn.pending)(i for i in fn.pending if i.call_id != call.id)
        for ct in [ct for ct in fn.containers.values()
                   if any(key[0] == call.id for key in ct.assigned)]:
            if terminate_containers:
                await self.stop_container(ct, requeue=True, grace_s=0.0)
            elif ct.peer is not None:
                ct.peer.notify(wire.CANCEL, [key for key in ct.assigned if key[0] == call.id])

    def check_heartbeats(self, now: float) -> None:
        for ct in list(self.state.containers.values()):
            if ct.peer is not None and not ct.stopping and now - ct.last_seen > HEARTBEAT_TIMEOUT_S:
                ct.exit_reason = f"the container sent no heartbeat for {HEARTBEAT_TIMEOUT_S:.0f} s"
                asyncio.ensure_future(self.stop_container(ct, requeue=False, grace_s=0.0))

    # -- endings -------------------------------------------------------------------------------

    def container_log(self, container_id: str, stream: str, text: str) -> None:
        ct = self.state.containers.get(container_id)
        if ct is None:
            return
        ct.tail.append(text)
        fn = self.state.functions[ct.function_id]
        calls = {call_id for call_id, _ in ct.assigned}
        self.log(fn, container_id, stream, text, calls.pop() if len(calls) == 1 else None)

    def on_container_exit(self, container_id: str, exit: ContainerExit) -> None:
        ct = self.state.containers.pop(container_id, None)
        if ct is None:
            return
        fn = self.state.functions[ct.function_id]
        fn.containers.pop(container_id, None)
        self.changes.note("containers", fn.app_id)
        if ct.peer is not None:
            ct.peer.close()
        reason = ct.exit_reason or exit.reason
        if ct.failure is not None:
            self._fail_all(fn, ct, Status.ERROR, ct.failure)
            self._failed_start(fn, ct)
        elif not ct.stopping and not ct.outputs_seen and not exit.running and not exit.lost:
            # it died before running anything: every input would meet the same fate
            tail = "\n".join(ct.tail)
            message = f"the container failed while starting: {reason}" + (
                f"\nits last output:\n{tail}" if tail else ""
            )
            self._fail_all(fn, ct, Status.DIED, message.encode())
            self._failed_start(fn, ct)
        else:
            self._release(fn, ct, reason, exit.running)
        self.pump(fn)

    def _release(self, fn: FunctionState, ct: ContainerState, reason: str,
                 running: list[tuple[str, int]] | None) -> None:
        """Requeue a dead container's inputs; those it was running are charged for its death.

        Without a running board, the first inputs it was given (as many as it runs at once)
        are the ones charged.
        """
        if ct.requeue_all:
            charged: set[tuple[str, int]] = set()
        elif running is not None:
            charged = set(running)
        else:
            charged = set(list(ct.assigned)[: fn.concurrency])
        requeue: list[PendingInput] = []
        for key, item in ct.assigned.items():
            if key in charged:
                if not self._retry(fn, item):
                    message = f"the container running this input died: {reason}"
                    self._output(item, Status.DIED, message.encode())
            else:
                requeue.append(item)
        fn.pending.extendleft(reversed(requeue))
        ct.assigned.clear()

    def _failed_start(self, fn: FunctionState, ct: ContainerState) -> None:
        """Web requests waiting for this function's containers are answered with the failure
        (`gateway_capacity`), rather than waiting for one that would fail the same way."""
        if not ct.served:
            fn.start_failed_at = time.monotonic()
            self.web_failed(fn)

    def _fail_all(self, fn: FunctionState, ct: ContainerState, status: str,
                  data: bytes) -> None:
        items = list(ct.assigned.values()) + list(fn.pending)
        ct.assigned.clear()
        fn.pending.clear()
        for item in items:
            self._output(item, status, data)

    def _output(self, item: PendingInput, status: str, data: bytes) -> None:
        call = self.state.calls.get(item.call_id)
        if call is not None:
            self.outputs.deliver(call, [OutputRecord(index=item.index, status=status, data=data)])
