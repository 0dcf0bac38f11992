"""The interface between the control plane and a worker (the agent of one node).

The control plane asks a worker to start and stop containers through `Worker`; the worker tells
the control plane what happened through `WorkerEvents`. On one machine the worker lives in the
control plane's process and these are plain calls; a remote worker implements the same two
interfaces over a connection.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Protocol

from .definition import Amount, Gpu, MemorySnapshot


@dataclass(frozen=True)
class SandboxPolicy:
    """What a sandbox's runtime enforces on top of a container's CPU and memory limits.

    ``block_network``: no interface but loopback. Otherwise the sandbox has its own network
    namespace whose traffic may go only to ``cidr_allowlist`` (None: anywhere but the host
    itself). ``pids``: processes and threads at once; ``disk_mib``: its writable layer.
    """

    block_network: bool = False
    cidr_allowlist: list[str] | None = None
    pids: int = 1024
    disk_mib: int = 4096


def parse_allowlist(allowlist: list[str] | None) -> list[ipaddress.IPv4Network] | None:
    """The allowlist's IPv4 networks, merged; ValueError naming the first entry that is not one.

    >>> parse_allowlist(["10.0.0.0/24", "10.0.1.0/24"])
    [IPv4Network('10.0.0.0/23')]
    """
    if allowlist is None:
        return None
    if isinstance(allowlist, str):
        raise ValueError(f"cidr_allowlist must be a list of CIDRs, not the string {allowlist!r}")
    networks = []
    for entry in allowlist:
        try:
            networks.append(ipaddress.IPv4Network(entry if isinstance(entry, str) else ""))
        except ValueError as exc:
            raise ValueError(f"cidr_allowlist entry {entry!r} is not an IPv4 CIDR such as "
                             f"'10.0.0.0/24' ({exc})") from None
    return list(ipaddress.collapse_addresses(networks))


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a worker needs to start one container."""

    container_id: str
    function_id: str
    function_name: str
    app_id: str
    server_address: str
    token: str = field(repr=False)
    runtime: str = ""  # "" lets the worker choose its default
    env: dict[str, str] = field(default_factory=dict, repr=False)  # may hold secrets
    cpu: Amount | None = None  # cores
    memory_mb: Amount | None = None  # MiB
    gpu: Gpu | None = None
    image: dict[str, Any] | None = None  # a built image (`ketch.worker.images.BuiltImage`)
    volumes: list[dict[str, Any]] = field(default_factory=list)  # `VolumeService.prepare`
    binds: list[list[Any]] = field(default_factory=list)  # [source, target, read_only]: NFS
    # Cloud bucket mounts (`ketch.CloudBucketMount`'s wire form) with their ``credentials``,
    # which the worker hands to s3fs alone (`ketch.worker.buckets`).
    buckets: list[dict[str, Any]] = field(default_factory=list, repr=False)
    placement: dict[str, Any] | None = None  # `ketch.SchedulerPlacement`'s labels
    snapshot: MemorySnapshot | None = field(default=None, repr=False)  # enable_memory_snapshot
    web: bool = False  # a web endpoint's: its zygote imports the web server ahead
    # A sandbox: untrusted code, no token, and its stdin/stdout are the channel to its
    # supervisor (`ketch.protocol.supervisor`).
    sandbox: SandboxPolicy | None = None
    workdir: str | None = None  # a sandbox's, over its image's
    # A sandbox restored from a memory snapshot: the snapshot's folder
    # (`ketch.backends.gvisor_checkpoint`); its processes go on rather than start.
    checkpoint: str | None = None


@dataclass(frozen=True)
class ContainerExit:
    """How a container ended: ``exit_code`` for a normal exit, ``signal`` when killed.

    ``running`` lists the ``(call_id, index)`` inputs it was running when it ended, read from
    its running board (`ketch.protocol.board`); None when the worker could not tell.
    ``lost``: the container was lost with its node (or the process that watched it), rather
    than failing by itself, so its death says nothing about its function's code.
    """

    exit_code: int | None
    signal: int | None
    reason: str
    running: list[tuple[str, int]] | None = None
    lost: bool = False


@dataclass(frozen=True)
class UsageSample:
    """What a container used over ``seconds`` of wall time: CPU seconds and memory (measured,
    or None where the runtime cannot measure), and whole GPUs by model."""

    seconds: float
    cpu_s: float | None
    memory_bytes: int | None
    gpus: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeUsage:
    """A node's CPU cores, memory and GPUs (by model), and how much of each its containers
    have reserved."""

    name: str
    cpu: float
    cpu_reserved: float
    memory_mib: int
    memory_reserved_mib: int
    gpus: dict[str, int] = field(default_factory=dict)
    gpus_reserved: dict[str, int] = field(default_factory=dict)


class WorkerEvents(Protocol):
    def container_exited(self, container_id: str, exit: ContainerExit) -> None: ...

    def container_usage(self, container_id: str, sample: UsageSample) -> None: ...

    async def container_finishing(self, container_id: str) -> None:
        """The container has exited; its files are still there (volumes commit from them)."""
        ...

    def container_log(self, container_id: str, stream: str, text: str) -> None: ...

    async def sandbox_frame(self, container_id: str, kind: int, proc: int,
                            payload: bytes) -> None:
        """A frame from a sandbox's supervisor (`ketch.protocol.supervisor`); the worker reads
        no further from that sandbox until this returns."""
        ...


class Worker(Protocol):
    async def start_container(self, spec: ContainerSpec) -> bool:
        """Start the spec's container; whether it was forked from a process that had done
        its start's work already (a zygote), which is cheap, unlike an interpreter's start."""
        ...

    async def stop_container(self, container_id: str, grace_s: float) -> None: ...

    def sandbox_send(self, container_id: str, data: bytes) -> None:
        """Frames for a sandbox's supervisor; dropped when the sandbox has ended."""
        ...

    def sandbox_address(self, container_id: str) -> str | None:
        """The address at which this node reaches a running sandbox (None: it has no network
        beyond loopback)."""
        ...

    def placement_note(self, spec: ContainerSpec) -> str | None:
        """What to tell the app when its placement cannot be met and it runs anyway."""
        ...

    def container_address(self, container_id: str) -> str | None:
        """The address at which the control plane reaches a function's running container
        (None: not from here)."""
        ...

    async def sandbox_snapshot(self, container_id: str) -> str:
        """Copy a running sandbox's files into a new image layer on this node; its id."""
        ...

    async def sandbox_checkpoint(self, container_id: str, folder: str) -> None:
        """Save a running sandbox's memory and files in ``folder`` (it goes on running), for
        sandboxes restored from it (`ContainerSpec.checkpoint`)."""
        ...

    def sandbox_runtime(self, runtime: str | None) -> str:
        """The runtime a sandbox asking for ``runtime`` gets, or `InvalidError` saying why
        none can hold one here."""
        ...

    def never_fits(self, spec: ContainerSpec) -> str | None:
        """Why this worker could never run the spec's container, or None."""
        ...

    def fits(self, spec: ContainerSpec) -> bool:
        """Whether it has the resources to start the spec's container now."""
        ...

    def describe_free(self) -> str: ...

    def nodes_in_use(self) -> list[NodeUsage]:
        """Each node's resources and what is reserved of them (the dashboard's nodes page)."""
        ...

    def runtime_of(self, runtime: str | None) -> str:
        """The runtime a container asking for ``runtime`` ("" or None: the default) gets."""
        ...

    async def build_image(self, steps: list[dict[str, Any]], runtime: str,
                          log: Any) -> dict[str, Any]:
        """Build (or find cached) the image's layers; ``log`` gets progress lines."""
        ...

    async def close(self) -> None: ...
