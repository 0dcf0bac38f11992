"""A worker that starts no processes, and agents the test drives by hand: the seams of the
worker protocol (`ketch.protocol.worker.Worker`) and the container protocol, substituted so
that the control plane's call lifecycle (queue, fill, retry, requeue on container loss, cancel)
runs in milliseconds. Everything above the seams is the real control plane.

Example::

    cp = ControlPlane(tmp_path, worker=FakeWorker)
    worker = cp.worker
    ...                               # create an app, a function, a call through cp.handle
    agent = await worker.connect()    # the container the autoscaler asked for says hello
    agent.reply(agent.inputs[0], "ok", b"...")
    worker.kill(agent, running=[agent.inputs[1]])
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec

from ketch.protocol import container as wire
from ketch.protocol.message import encode
from ketch.protocol.worker import ContainerExit, ContainerSpec, WorkerEvents


class FakePeer:
    """The control plane's end of an agent's connection: what it notifies is kept, and told
    to shut down, the agent's container exits as a real one does."""

    def __init__(self, on_shutdown: Callable[[], None]) -> None:
        self.info: dict[str, Any] = {}
        self.notices: list[tuple[str, Any]] = []
        self.closed = False
        self._on_shutdown = on_shutdown

    def notify(self, kind: str, body: Any) -> None:
        self.notices.append((kind, body))
        if kind == wire.SHUTDOWN:
            asyncio.get_running_loop().call_soon(self._on_shutdown)

    def close(self) -> None:
        self.closed = True


class FakeAgent:
    """A container's agent: it has said hello, and answers only when the test says so."""

    def __init__(self, worker: FakeWorker, spec: ContainerSpec, peer: FakePeer) -> None:
        self.worker = worker
        self.spec = spec
        self.peer = peer

    @property
    def inputs(self) -> list[wire.Input]:
        """Every input the control plane has handed it, in order."""
        return [i for kind, body in self.peer.notices if kind == wire.INPUTS for i in body]

    def notices(self, kind: str) -> list[Any]:
        return [body for k, body in self.peer.notices if k == kind]

    async def reply(self, given: wire.Input, status: str, data: bytes | None) -> None:
        output = wire.Output(call_id=given.call_id, index=given.index, status=status, data=data)
        await self.worker.send(self.peer, wire.OUTPUTS, [output])


class FakeWorker:
    """Containers that start at once and never run anything by themselves."""

    def __init__(self, events: WorkerEvents) -> None:
        self.events = events
        self.forks = False  # what start_container says: forked from a zygote, or a new interpreter
        self.started: list[ContainerSpec] = []
        self.stopped: list[str] = []
        self.agents: dict[str, FakeAgent] = {}

    async def connect(self, spec: ContainerSpec | None = None) -> FakeAgent:
        """The agent of a started container (the oldest not yet connected) says hello."""
        spec = spec or next(s for s in self.started if s.container_id not in self.agents
                            and s.container_id not in self.stopped)
        container_id = spec.container_id
        peer = FakePeer(lambda: self.events.container_exited(
            container_id, ContainerExit(0, None, "it was told to shut down")))
        await self.send(peer, wire.HELLO, wire.Hello(container_id=spec.container_id,
                                                     token=spec.token))
        agent = self.agents[spec.container_id] = FakeAgent(self, spec, peer)
        return agent

    async def send(self, peer: FakePeer, kind: str, body: Any) -> Any:
        """A frame from an agent, encoded and decoded as it would travel."""
        return await self.events.on_frame(peer, kind, msgspec.Raw(encode(body)))  # type: ignore[attr-defined]

    def kill(self, agent: FakeAgent, running: list[wire.Input] | None = None,
             reason: str = "killed by signal 9") -> None:
        """The container dies; ``running``: the inputs its running board still held."""
        keys = [(i.call_id, i.index) for i in running or []]
        self.events.container_exited(agent.spec.container_id, ContainerExit(
            exit_code=None, signal=9, reason=reason, running=keys))

    # -- the Worker interface ------------------------------------------------------------------

    async def start_container(self, spec: ContainerSpec) -> bool:
        self.started.append(spec)
        return self.forks

    async def stop_container(self, container_id: str, grace_s: float) -> None:
        self.stopped.append(container_id)
        self.events.container_exited(container_id, ContainerExit(0, None, "stopped"))

    def never_fits(self, spec: ContainerSpec) -> str | None:
        return None

    def fits(self, spec: ContainerSpec) -> bool:
        return True

    def describe_free(self) -> str:
        return "everything"

    def runtime_of(self, runtime: str | None) -> str:
        return runtime or "process"

    def placement_note(self, spec: ContainerSpec) -> str | None:
        return None

    def container_address(self, container_id: str) -> str | None:
        return None

    async def build_image(self, steps: list[dict[str, Any]], runtime: str, log: Any
                          ) -> dict[str, Any]:
        return {}

    async def close(self) -> None:
        pass
