"""`RayWorker`: the control plane's worker when containers are placed by a Ray cluster.

Each container is a Ray actor (`ContainerActor`) asking for the container's CPU, memory and
GPUs; Ray places it on a node, where it runs the container agent, which connects back to the
control plane over TCP like any container. Scaling down stops the agent and kills the actor,
so Ray's autoscaler sees the room free up. An actor that dies (its node died, or Ray killed
its process) ends its container with a reason that says so; nothing is known then of what the
container was running, so the control plane handles it as a container without a running board.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from ... import config, exception
from ...protocol.wire import parse_address
from ...protocol.worker import ContainerExit, ContainerSpec, NodeUsage, WorkerEvents
from . import placement
from .actor import ContainerActor, Event
from .images import build_on_node

FREE_TTL_S = 0.1  # how long an answer about the cluster's free resources is reused
NODES_TTL_S = 5.0  # how long the list of nodes is reused
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def connect(address: str | None) -> None:
    """Connect this process to the Ray cluster at ``address`` (``host:6379``; None or "auto":
    the one ``ray start`` runs on this machine, or ``RAY_ADDRESS``)."""
    try:
        import ray
    except ImportError:
        raise exception.InvalidError(
            "the ray backend needs Ray: pip install 'ketch[ray]' (the same Ray version as the "
            "cluster's)"
        ) from None
    if ray.is_initialized():
        return
    if address and address != "auto":
        _check_reachable(address)  # ray.init would retry an unreachable address for minutes
    try:
        ray.init(address=address or "auto", namespace="ketch", log_to_driver=False,
                 logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise exception.InvalidError(
            f"cannot reach the Ray cluster at {address or 'auto'}: {str(exc).rstrip('.')}. "
            "Start one with `ray start --head`, or pass the head node's address: "
            "--ray-address HOST:6379"
        ) from exc


def _check_reachable(address: str) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise exception.InvalidError(
            f"{address!r} is not a Ray cluster address: use HOST:PORT, as in head:6379"
        )
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise exception.InvalidError(
            f"cannot reach the Ray cluster at {address}: {exc}. Start one with `ray start "
            "--head`, or pass the head node's address: --ray-address HOST:6379"
        ) from None


class RayWorker:
    """Runs containers as Ray actors on the cluster this process is connected to.

    Example::

        connect("head:6379")
        worker = RayWorker(control_plane)
        await worker.start_container(spec)   # an actor, wherever Ray places it
    """

    def __init__(self, events: WorkerEvents, max_containers: int | None = None,
                 runtime: str | None = None) -> None:
        import ray

        self._ray: Any = ray  # typed loosely: Ray's stubs do not know streaming or actors
        self._events = events
        self._max = max_containers
        self._actor_class = self._ray.remote(ContainerActor)
        self._actors: dict[str, Any] = {}
        self._waiting: dict[str, dict[str, Any]] = {}  # not yet placed: their actor options
        self._killed: set[str] = set()
        self._followers: set[asyncio.Task[None]] = set()
        self._node_of: dict[str, str] = {}  # container → the Ray node it runs on
        self._asked: dict[str, dict[str, Any]] = {}  # container → its actor's resources
        self._nodes: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._free: tuple[float, dict[str, float]] = (0.0, {})
        self._runtime = runtime or self._cluster_runtime()

    # -- placement -----------------------------------------------------------------------------

    def _alive(self) -> list[dict[str, Any]]:
        """Ray's description of each alive node (reused for a few seconds)."""
        at, nodes = self._nodes
        if time.monotonic() - at > NODES_TTL_S:
            nodes = [n for n in self._ray.nodes() if n.get("Alive")]
            self._nodes = (time.monotonic(), nodes)
        return nodes

    def nodes(self) -> list[dict[str, float]]:
        """The total resources of each alive node."""
        return [dict(n["Resources"]) for n in self._alive()]

    def _free_now(self) -> dict[str, float]:
        at, free = self._free
        if time.monotonic() - at > FREE_TTL_S:
            free = dict(self._ray.available_resources())
            self._free = (time.monotonic(), free)
        for chosen in self._waiting.values():  # Ray does not count them until they are placed
            free = placement.minus(free, chosen)
        return free

    def never_fits(self, spec: ContainerSpec) -> str | None:
        self._nodes = (0.0, [])  # a new function: ask about the nodes afresh
        return placement.never_fits(spec, self.nodes())

    def fits(self, spec: ContainerSpec) -> bool:
        if self._max is not None and len(self._actors) >= self._max:
            return False
        free = self._free_now()
        chosen = placement.options(spec, self.nodes(), free)
        # With no room (or no node that could hold it, after the function was accepted), one
        # container still waits for Ray to place it: the demand Ray's autoscaler adds a node for.
        return (chosen is not None and placement.covers(free, chosen)) or not self._waiting

    def describe_free(self) -> str:
        free = self._free_now()
        gpus = f", {free['GPU']:g} GPU" if free.get("GPU") else ""
        return (f"{max(free.get('CPU', 0), 0):g} CPU, "
                f"{max(int(free.get('memory', 0)) // 2**20, 0)} MiB{gpus} free on the Ray cluster")

    def nodes_in_use(self) -> list[NodeUsage]:
        """Each alive node's resources, and what ketch's containers placed there reserve."""
        placed: dict[str, list[dict[str, Any]]] = {}
        for cid, node in self._node_of.items():
            placed.setdefault(node, []).append(self._asked.get(cid) or {})
        return [placement.node_usage(node, placed.get(node.get("NodeID", ""), []))
                for node in self._alive()]

    def runtime_of(self, runtime: str | None) -> str:
        return runtime or self._runtime

    def sandbox_runtime(self, runtime: str | None) -> str:
        raise exception.InvalidError(
            "sandboxes run on a single machine for now: start the server with "
            "`ketch server` (the local backend) to create them"
        )

    def sandbox_send(self, container_id: str, data: bytes) -> None:
        """Never called: `sandbox_runtime` refuses every sandbox."""

    def sandbox_address(self, container_id: str) -> str | None:
        return None

    def placement_note(self, spec: ContainerSpec) -> None:
        return None  # a placement no node meets is refused by never_fits instead

    def container_address(self, container_id: str) -> str | None:
        return None  # on another node: no tunnel to it yet

    async def sandbox_snapshot(self, container_id: str) -> str:
        raise exception.NotFoundError(f"sandbox {container_id} is not running")

    async def sandbox_checkpoint(self, container_id: str, folder: str) -> None:
        raise exception.NotFoundError(f"sandbox {container_id} is not running")

    def _cluster_runtime(self) -> str:
        """``KETCH_RUNTIME`` or ``runtime`` in config.toml, else what a node chooses by itself
        (every node gets the same, so the control plane can check mounts and images)."""
        chosen = os.environ.get("KETCH_RUNTIME") or config.settings().get("runtime")
        if chosen:
            return str(chosen)
        from ...backends import default_runtime

        probe = self._ray.remote(num_cpus=0)(default_runtime)
        try:
            return str(self._ray.get(probe.remote(), timeout=120))
        except (self._ray.exceptions.RayError, TimeoutError) as exc:
            raise exception.InvalidError(
                f"the Ray cluster's nodes cannot run ketch ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}); install "
                "the same ketch and Ray on every node, or set the runtime in config.toml"
            ) from exc

    # -- images --------------------------------------------------------------------------------

    async def build_image(self, steps: list[dict[str, Any]], runtime: str,
                          log: Callable[[str], None]) -> dict[str, Any]:
        chosen = runtime or self._runtime
        if chosen != "namespace":
            raise exception.InvalidError(
                f"images need the namespace runtime, and this function would run with "
                f"{chosen!r} on the Ray cluster's nodes; run the nodes' Ray as root on Linux, "
                "or drop image= to run on the nodes' own Python"
            )
        task = self._ray.remote(num_cpus=0)(build_on_node)
        built: dict[str, Any] | None = None
        async for ref in task.options(num_returns="streaming").remote(steps):
            kind, value = await ref
            if kind == "log":
                log(value)
            elif kind == "failed":
                from ..images import ImageBuildError

                raise ImageBuildError(value)
            else:
                built = value
        assert built is not None
        # The steps travel with the image: each node builds (or finds) the same layers.
        return {**built, "steps": pinned(steps, built.get("digest"))}

    # -- containers ----------------------------------------------------------------------------

    async def start_container(self, spec: ContainerSpec) -> bool:
        cid = spec.container_id
        chosen = (placement.options(spec, self.nodes(), self._free_now())
                  or placement.first_choice(spec))
        try:
            spec = dataclasses.replace(spec, runtime=self.runtime_of(spec.runtime),
                                       server_address=self._reachable(spec.server_address))
        except exception.InvalidError as exc:
            self._events.container_exited(cid, ContainerExit(None, None, str(exc)))
            return False
        # SPREAD: a function's containers on different nodes, so that a node lost costs few.
        actor: Any = self._actor_class.options(
            **chosen, max_restarts=0, scheduling_strategy="SPREAD").remote()
        self._actors[cid] = actor
        self._waiting[cid] = chosen
        self._asked[cid] = chosen
        stream = actor.run.options(num_returns="streaming").remote(spec)
        follower = asyncio.ensure_future(self._follow(cid, actor, stream))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)
        return False  # an actor: a new interpreter on its node

    def _reachable(self, address: str) -> str:
        """The control plane's address as the nodes reach it."""
        kind, host, port = parse_address(address)
        if kind != "tcp":
            raise exception.InvalidError(
                "containers on a Ray cluster reach the control plane over TCP: run "
                "`ketch server --backend ray --host ADDRESS` (the embedded control plane of "
                "`ketch run` cannot place containers on Ray)"
            )
        here = self._ray.util.get_node_ip_address()  # this machine, as Ray's nodes see it
        if host in ("0.0.0.0", "::", ""):
            return f"{here}:{port}"
        elsewhere = sorted({n["NodeManagerAddress"] for n in self._alive()} - {here})
        if host in LOOPBACK and elsewhere:
            raise exception.InvalidError(
                f"the control plane listens on {host}, which the Ray nodes at "
                f"{', '.join(elsewhere)} cannot reach: run `ketch server --backend ray --host "
                f"0.0.0.0` (or this machine's address, {here})"
            )
        return f"{host}:{port}"

    async def _follow(self, cid: str, actor: Any, stream: Any) -> None:
        exit_: ContainerExit | None = None
        try:
            async for ref in stream:
                batch: list[Event] = await ref
                for event in batch:
                    exit_ = await self._on_event(cid, actor, event) or exit_
        except self._ray.exceptions.RayError as exc:
            exit_ = ContainerExit(None, None, self._death_reason(cid, exc),
                                  lost=cid not in self._killed)
        finally:
            self._waiting.pop(cid, None)
            self._actors.pop(cid, None)
            self._killed.discard(cid)
            self._node_of.pop(cid, None)
            self._asked.pop(cid, None)
            self._ray.kill(actor)  # its resources go back to Ray at once
        if exit_ is None:
            exit_ = ContainerExit(None, None, "the container's Ray actor ended without a word")
        self._events.container_exited(cid, exit_)

    async def _on_event(self, cid: str, actor: Any, event: Event) -> ContainerExit | None:
        kind = event[0]
        if kind == "log":
            self._events.container_log(cid, event[1], event[2])
        elif kind == "usage":
            self._events.container_usage(cid, event[1])
        elif kind == "placed":
            self._waiting.pop(cid, None)
            self._node_of[cid] = event[1]
        elif kind == "finishing":
            try:
                await self._events.container_finishing(cid)
            finally:
                actor.finished.remote()
        elif kind == "exited":
            return event[1]  # type: ignore[no-any-return]
        return None

    def _death_reason(self, cid: str, exc: Exception) -> str:
        if cid in self._killed:
            return "the container was stopped before Ray placed it"
        node = self._node_of.get(cid)
        where = f" on Ray node {node}" if node else ""
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        # Ray's line with the cause: its node died, its process was killed for memory, …
        cause = next((line for line in lines if "because" in line),
                     lines[0] if lines else type(exc).__name__)
        return f"the container's Ray actor{where} died: {cause}"

    async def stop_container(self, container_id: str, grace_s: float) -> None:
        actor = self._actors.get(container_id)
        if actor is None:
            return
        if container_id in self._waiting:
            self._killed.add(container_id)
            self._ray.kill(actor)
            return
        try:
            await asyncio.wait_for(actor.stop.remote(container_id, grace_s), grace_s + 10.0)
        except (self._ray.exceptions.RayError, TimeoutError):
            self._ray.kill(actor)  # unreachable: its follower reports the death

    async def close(self) -> None:
        await asyncio.gather(
            *(self.stop_container(cid, 2.0) for cid in list(self._actors)), return_exceptions=True
        )
        if self._followers:
            await asyncio.wait(self._followers, timeout=10.0)
        for actor in list(self._actors.values()):
            self._ray.kill(actor)
        self._ray.shutdown()


def pinned(steps: list[dict[str, Any]], digest: str | None) -> list[dict[str, Any]]:
    """The steps with their registry base pinned to the manifest it resolved to where the
    image was first built, so that every node pulls those bytes even if the tag moves."""
    if not digest:
        return steps
    return [{**step, "ref": step["ref"].split("@")[0] + "@" + digest}
            if step["kind"] == "registry" else step for step in steps]
