"""A container on a Ray node: the Ray actor that runs the container agent there.

The actor holds exactly the resources Ray gave it, and runs the container with the node's own
`LocalWorker` (the same runtimes, environment, running board and metering as on one machine),
sized to that allocation. What the worker reports (lines, usage, the exit) streams back to the
control plane from `ContainerActor.run`, in batches of events:

- ``("placed", node_id)`` first, once Ray has placed the actor;
- ``("log", stream, text)``, ``("usage", UsageSample)``;
- ``("finishing",)``: the container has exited and its files are still there; the actor waits
  for `ContainerActor.finished` before removing them (volumes commit from them);
- ``("exited", ContainerExit)`` last.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import AsyncIterator
from typing import Any

from ...protocol.worker import ContainerExit, ContainerSpec, UsageSample
from ..gpus import Gpu, Inventory, discover
from ..resources import Capacity
from ..worker import LocalWorker
from . import images
from .placement import request_of

Event = tuple[Any, ...]


class StreamedEvents:
    """`WorkerEvents` that gather what the node's worker reports, for the stream to send."""

    def __init__(self) -> None:
        self._pending: list[Event] = []
        self._ready = asyncio.Event()
        self.finish_allowed = asyncio.Event()
        self.exited = False

    def add(self, event: Event) -> None:
        self._pending.append(event)
        self._ready.set()

    def container_exited(self, container_id: str, exit: ContainerExit) -> None:
        self.exited = True
        self.add(("exited", exit))

    def container_usage(self, container_id: str, sample: UsageSample) -> None:
        self.add(("usage", sample))

    async def container_finishing(self, container_id: str) -> None:
        self.add(("finishing",))
        await self.finish_allowed.wait()

    async def sandbox_frame(self, container_id: str, kind: int, proc: int,
                            payload: bytes) -> None:
        """Never called: no sandbox is placed on Ray (`RayWorker.sandbox_runtime`)."""

    def container_log(self, container_id: str, stream: str, text: str) -> None:
        self.add(("log", stream, text))

    async def batches(self) -> AsyncIterator[list[Event]]:
        """Everything reported since the last batch, until the exit has been sent."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            yield batch
            if self.exited and not self._pending:
                return


class ContainerActor:
    """One container, placed by Ray. The control plane makes one per container::

        actor = ray.remote(ContainerActor).options(num_cpus=0.5, memory=2**28).remote()
        async for ref in actor.run.options(num_returns="streaming").remote(spec):
            events = await ref
    """

    def __init__(self) -> None:
        self._events = StreamedEvents()
        self._worker: LocalWorker | None = None  # once its container has started
        self._starting: asyncio.Task[None] | None = None
        self._stopped = False

    async def run(self, spec: ContainerSpec) -> AsyncIterator[list[Event]]:
        import ray

        yield [("placed", ray.get_runtime_context().get_node_id())]
        # Started aside, so that a build's lines reach the control plane as the build goes.
        self._starting = asyncio.ensure_future(self._start(spec, ray.get_gpu_ids()))
        async for batch in self._events.batches():
            yield batch

    async def _start(self, spec: ContainerSpec, gpu_ids: list[Any]) -> None:
        events = self._events
        try:
            spec = await self._on_this_node(spec)
        except Exception as exc:  # a failed build fails the container, with the reason
            events.container_exited(spec.container_id, ContainerExit(None, None, str(exc)))
            return
        if self._stopped:
            exit_ = ContainerExit(None, None, "the container was stopped before it started")
            events.container_exited(spec.container_id, exit_)
            return
        gpus = _assigned_gpus(gpu_ids, spec)
        request = request_of(spec)
        # Sized to what Ray gave the actor, so the worker takes exactly those GPUs.
        capacity = Capacity(request.cpu, request.memory_mib, Inventory(gpus))
        worker = LocalWorker(events, capacity=capacity, zygotes=False)  # one container each
        await worker.start_container(dataclasses.replace(
            spec, gpu=f"ANY:{len(gpus)}" if gpus else None))
        self._worker = worker
        if self._stopped:  # asked while it started
            await worker.stop_container(spec.container_id, 1.0)

    async def _on_this_node(self, spec: ContainerSpec) -> ContainerSpec:
        """The spec with its image built (or found) on this node, by the same content hashes."""
        if not spec.image:
            return spec
        log = functools.partial(self._events.container_log, spec.container_id, "stderr")
        image = await images.node_builder().build(spec.image["steps"], log)
        return dataclasses.replace(spec, image={**spec.image, **image.to_wire()})

    async def stop(self, container_id: str, grace_s: float) -> None:
        self._stopped = True
        if self._worker is not None:
            await self._worker.stop_container(container_id, grace_s)

    async def finished(self) -> None:
        """The control plane is done with the exited container's files."""
        self._events.finish_allowed.set()


def _assigned_gpus(ids: list[Any], spec: ContainerSpec) -> list[Gpu]:
    """The node's GPUs that Ray assigned to this actor (Ray numbers them as NVML does). A node
    whose GPUs NVML cannot list still hands them out, under the model it advertises."""
    if not ids:
        return []
    wanted = {int(i) for i in ids}
    found = [gpu for gpu in discover() if gpu.index in wanted]
    if len(found) == len(wanted):
        return found
    first = spec.gpu if isinstance(spec.gpu, str) else (spec.gpu or ["GPU"])[0]
    model = str(first).partition(":")[0]
    return [Gpu(i, str(i), model, 0, [f"/dev/nvidia{i}"]) for i in sorted(wanted)]
