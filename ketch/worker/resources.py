"""What a node has and what its containers have reserved: CPU cores, memory and GPUs.

A container reserves its *request* (``cpu=``, ``memory=``, or the first of a (request, limit)
pair; Modal's defaults of 0.125 cores and 128 MiB otherwise). A request larger than the whole
node can never be placed; one that only lacks free capacity now waits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..protocol.worker import NodeUsage
from .gpus import Gpu, Inventory, discover, summary

PROBE = "probe"  # the owner of a trial GPU allocation, released at once
DEFAULT_CPU = 0.125
DEFAULT_MEMORY_MIB = 128


@dataclass(frozen=True)
class Request:
    cpu: float
    memory_mib: int
    gpu: Any = None  # the normalized gpu option: "H100:1", "ANY:2", a list of those, or None

    @classmethod
    def of(cls, cpu: Any, memory: Any, gpu: Any) -> Request:
        return cls(float(_first(cpu, DEFAULT_CPU)), int(_first(memory, DEFAULT_MEMORY_MIB)), gpu)

    def describe(self) -> str:
        gpu = f", gpu {self.gpu}" if self.gpu else ""
        return f"{self.cpu:g} CPU, {self.memory_mib} MiB{gpu}"


def _first(value: Any, default: float) -> Any:
    if value is None:
        return default
    if isinstance(value, (list, tuple)):
        return value[0]
    return value


def node_memory_mib() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 4096


class Capacity:
    """The node's CPU and memory, and who holds what.

    Example::

        capacity = Capacity(cpu=2, memory_mib=4096)
        capacity.never_fits(Request.of(4, None, None))   # "it asks for 4 CPU; this node has 2"
        capacity.reserve("ct-1", Request.of(1, 512, None))
    """

    def __init__(self, cpu: float | None = None, memory_mib: int | None = None,
                 gpus: Inventory | None = None) -> None:
        self.cpu = float(cpu if cpu is not None else os.cpu_count() or 1)
        self.memory_mib = memory_mib if memory_mib is not None else node_memory_mib()
        self.gpus = gpus if gpus is not None else Inventory(discover())
        self._held: dict[str, Request] = {}

    def never_fits(self, request: Request) -> str | None:
        gpu_problem = self.gpus.can_ever_fit(request.gpu)
        if gpu_problem is not None:
            return gpu_problem
        if request.cpu > self.cpu:
            return f"it asks for {request.cpu:g} CPU; this node has {self.cpu:g}"
        if request.memory_mib > self.memory_mib:
            return f"it asks for {request.memory_mib} MiB of memory; this node has {self.memory_mib}"
        return None

    def free(self) -> tuple[float, int]:
        cpu = self.cpu - sum(r.cpu for r in self._held.values())
        memory = self.memory_mib - sum(r.memory_mib for r in self._held.values())
        return cpu, memory

    def fits(self, request: Request) -> bool:
        cpu, memory = self.free()
        if request.cpu > cpu + 1e-9 or request.memory_mib > memory:
            return False
        if request.gpu and self.gpus.allocate(request.gpu, PROBE) is None:
            return False
        self.gpus.release(PROBE)
        return True

    def reserve(self, owner: str, request: Request) -> list[Gpu]:
        """Hold the request for ``owner``; return the GPUs it was given."""
        self._held[owner] = request
        return self.gpus.allocate(request.gpu, owner) or [] if request.gpu else []

    def release(self, owner: str) -> None:
        self._held.pop(owner, None)
        self.gpus.release(owner)

    def usage(self, name: str) -> NodeUsage:
        """The node's resources and what its containers hold, as the dashboard shows them."""
        cpu, memory = self.free()
        total, free = self.gpus.total(), self.gpus.free()
        return NodeUsage(name, self.cpu, self.cpu - cpu, self.memory_mib, self.memory_mib - memory,
                         total, {model: n - free.get(model, 0) for model, n in total.items()})

    def describe_free(self) -> str:
        cpu, memory = self.free()
        gpus = summary(self.gpus.free())
        return f"{max(cpu, 0):g} CPU, {max(memory, 0)} MiB" + (f", {gpus}" if gpus else "") + " free"
