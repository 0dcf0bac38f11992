"""The GPUs of this node: found through NVML, named as Modal names them, handed out whole.

`discover` asks NVML (package ``nvidia-ml-py``, imported when called) for the node's GPUs and
returns [] without the package, a driver or a device, so CPU-only machines run unchanged.
`Inventory` hands GPUs out whole, one owner (a container) each; `visible_devices` and
`device_nodes` say what that container may see. Example::

    inventory = Inventory(discover())
    if (reason := inventory.can_ever_fit("H100:2")) is not None:
        raise exception.ResourceExhaustedError(reason)
    gpus = inventory.allocate("H100:2", owner="ct-1")   # None while they are taken: wait
    env = visible_devices(gpus or [])
    inventory.release("ct-1")

``KETCH_FAKE_GPUS="H100:2,A10:1"`` makes `discover` return synthetic GPUs instead of asking
NVML: it substitutes the NVML boundary and nothing else, for tests on machines without GPUs
(the device paths it names do not exist there).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from .. import exception

log = logging.getLogger("ketch")

FAKE_ENV = "KETCH_FAKE_GPUS"
# Modal's names, smallest first: "ANY" takes the smallest GPU that fits, keeping big ones free.
MODAL_NAMES = ("T4", "L4", "A10", "L40S", "A100-40GB", "A100-80GB", "H100", "H200", "B200")
# Request types (as `ketch.options` writes them) that accept more than one model, as on Modal:
# an A10G is Modal's A10, "A100" may get the 80 GB card, and "H100" may be upgraded to an H200
# unless pinned with "H100!". Every other type accepts only the model of its own name.
ACCEPTS: dict[str, tuple[str, ...]] = {"A10G": ("A10",), "A100": ("A100-40GB", "A100-80GB"),
                                       "H100": ("H100", "H200"), "H100!": ("H100",)}
# Device nodes shared by every CUDA process, besides the /dev/nvidiaN of its own GPUs.
CONTROL_NODES = ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset")
# Word boundaries keep GH200 and GB200 (Grace superchips) from passing for an H200 or a B200,
# and "A10" from matching inside "A100" (which `modal_name` handles first, by memory).
_PATTERNS = [(re.compile(pattern), name) for pattern, name in (
    (r"\bH200\b", "H200"), (r"\bH100\b", "H100"), (r"\bB200\b", "B200"),
    (r"\bL40S\b", "L40S"), (r"\bA10G?\b", "A10"), (r"\bL4\b", "L4"), (r"\bT4\b", "T4"),
)]
# What NVML reports for each model, so fake GPUs look like real ones.
_FAKE_MIB = {"T4": 15360, "L4": 23034, "A10": 23028, "L40S": 46068, "A100-40GB": 40960,
             "A100-80GB": 81920, "H100": 81559, "H200": 143771, "B200": 183359}


@dataclasses.dataclass(frozen=True)
class Gpu:
    """One GPU of the node. ``model`` is Modal's name ("H100"), or a normalized one."""

    index: int
    uuid: str
    model: str
    memory_mib: int
    # Left out of the hash (a list has none), so a Gpu can still be a set member or a key.
    device_paths: list[str] = dataclasses.field(default_factory=list, hash=False)


def modal_name(nvml_name: str, memory_mib: int = 0) -> str:
    """Modal's name for an NVML device name; unknown cards get a normalized uppercase name.

    Example: ``modal_name("NVIDIA A100-SXM4-40GB", 40960) == "A100-40GB"``,
    ``modal_name("NVIDIA GeForce RTX 4090") == "GEFORCE-RTX-4090"``.
    """
    name = nvml_name.strip().upper()
    if re.search(r"\bA100\b", name):
        # Names such as "NVIDIA A100-SXM4" do not say the size; the memory does when known.
        big = memory_mib > 60 * 1024 if memory_mib else "80GB" in name
        return "A100-80GB" if big else "A100-40GB"
    for pattern, modal in _PATTERNS:
        if pattern.search(name):
            return modal
    name = name.removeprefix("NVIDIA ").removeprefix("TESLA ")
    return re.sub(r"[^A-Z0-9!]+", "-", name).strip("-")


def discover() -> list[Gpu]:
    """The node's GPUs, in NVML's order; [] without nvidia-ml-py, a driver or a device."""
    fake = os.environ.get(FAKE_ENV)
    if fake is not None:
        return fake_gpus(fake)
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return []  # no driver (or no library): a node without GPUs
    try:
        return [_nvml_gpu(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount())]
    except pynvml.NVMLError as exc:
        log.warning("cannot list this node's GPUs through NVML (%s); running without GPUs", exc)
        return []
    finally:
        pynvml.nvmlShutdown()


def _nvml_gpu(nvml: Any, index: int) -> Gpu:
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    # Older nvidia-ml-py releases return bytes, newer ones str.
    name, uuid = (v.decode() if isinstance(v, bytes) else v
                  for v in (nvml.nvmlDeviceGetName(handle), nvml.nvmlDeviceGetUUID(handle)))
    memory_mib = int(nvml.nvmlDeviceGetMemoryInfo(handle).total) // 2**20
    try:
        minor = int(nvml.nvmlDeviceGetMinorNumber(handle))
    except nvml.NVMLError:
        minor = index  # the device node's number equals NVML's index on ordinary installs
    return Gpu(index, uuid, modal_name(name, memory_mib), memory_mib, [f"/dev/nvidia{minor}"])


def fake_gpus(spec: str) -> list[Gpu]:
    """Synthetic GPUs for ``KETCH_FAKE_GPUS``: ``"H100:2,A10:1"`` gives GPU-fake-0 … 2."""
    gpus: list[Gpu] = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        kind, _, count = part.partition(":")
        if not kind.strip() or not (count or "1").isdigit():
            raise exception.InvalidError(f"{FAKE_ENV}={spec!r}: write it as in 'H100:2,A10:1'")
        model = modal_name(kind)
        for _ in range(int(count or 1)):
            i = len(gpus)
            gpus.append(Gpu(i, f"GPU-fake-{i}", model, _FAKE_MIB.get(model, 0), [f"/dev/nvidia{i}"]))
    return gpus


def _parse(request: str) -> tuple[str, int]:
    kind, _, count = request.strip().upper().partition(":")
    if not kind or not (count or "1").isdigit() or int(count or "1") < 1:
        raise exception.InvalidError(f"gpu request {request!r} is not of the form 'H100:2'")
    return kind, int(count or "1")


def _rank(model: str) -> tuple[int, str]:
    return (MODAL_NAMES.index(model) if model in MODAL_NAMES else len(MODAL_NAMES), model)


def summary(counts: dict[str, int]) -> str:
    """``{"A10": 2, "H100": 1}`` → ``"2× A10, 1× H100"``."""
    return ", ".join(f"{n}× {model}" for model, n in counts.items())


class Inventory:
    """The node's GPUs and who holds each; whole GPUs, one owner each, all of one model.

    Not thread-safe: the worker calls it from its event loop. Example::

        inventory = Inventory(fake_gpus("A10:2"))
        inventory.allocate(["H100:1", "A10:1"], owner="ct-1")   # → [Gpu(index=0, …)]
        inventory.free()                                        # → {"A10": 1}
    """

    def __init__(self, gpus: Iterable[Gpu]) -> None:
        self.gpus = sorted(gpus, key=lambda g: g.index)
        self._owners: dict[int, str] = {}  # GPU index → the owner holding it

    def can_ever_fit(self, request: str | Sequence[str] | None) -> str | None:
        """None if the request fits the node when it is idle, else a message saying why not."""
        requests = [_parse(r) for r in _as_list(request)]
        if not requests or any(self._pick(k, n, self.gpus) for k, n in requests):
            return None
        shown = request if isinstance(request, str) else list(_as_list(request))
        if not self.gpus:
            return f"gpu={shown!r} cannot run here: this node has no GPUs"
        reasons = ", ".join(self._shortfall(kind, count) for kind, count in requests)
        return (f"gpu={shown!r} cannot run here: this node has {reasons} "
                f"(it has: {summary(self.total())}); ask for a GPU it has, or list fallbacks")

    def allocate(self, request: str | Sequence[str] | None, owner: str) -> list[Gpu] | None:
        """GPUs for the first request of a fallback list that fits now; None if all are taken
        (check `can_ever_fit` first: None also answers a request that never fits)."""
        requests = [_parse(r) for r in _as_list(request)]
        if not requests:
            return []
        free = [g for g in self.gpus if g.index not in self._owners]
        for kind, count in requests:
            picked = self._pick(kind, count, free)
            if picked:
                self._owners.update((g.index, owner) for g in picked)
                return picked
        return None

    def release(self, owner: str) -> list[Gpu]:
        """Free every GPU the owner holds; returns them."""
        freed = [g for g in self.gpus if self._owners.get(g.index) == owner]
        self._owners = {i: o for i, o in self._owners.items() if o != owner}
        return freed

    def total(self) -> dict[str, int]:
        """Count of GPUs by model, smallest model first: ``{"A10": 2, "H100": 1}``."""
        return _counts(self.gpus)

    def free(self) -> dict[str, int]:
        """Count of GPUs no owner holds, by model."""
        return _counts(g for g in self.gpus if g.index not in self._owners)

    def _models(self, kind: str) -> list[str]:
        present = {g.model for g in self.gpus}
        if kind == "ANY":
            return sorted(present, key=_rank)
        return [m for m in ACCEPTS.get(kind, (kind,)) if m in present]

    def _pick(self, kind: str, count: int, gpus: list[Gpu]) -> list[Gpu] | None:
        # One model per allocation, as on Modal: a container never gets an H100 and an H200.
        for model in self._models(kind):
            matching = [g for g in gpus if g.model == model]
            if len(matching) >= count:
                return matching[:count]
        return None

    def _shortfall(self, kind: str, count: int) -> str:
        if kind == "ANY":
            return f"fewer than {count} GPUs of one model"
        wanted = " or ".join(ACCEPTS.get(kind, (kind,)))
        return f"fewer than {count}× {wanted}" if self._models(kind) else f"no {wanted}"


def _as_list(request: str | Sequence[str] | None) -> list[str]:
    return [] if request is None else [request] if isinstance(request, str) else list(request)


def _counts(gpus: Iterable[Gpu]) -> dict[str, int]:
    counts = Counter(g.model for g in gpus)
    return {model: counts[model] for model in sorted(counts, key=_rank)}


def visible_devices(gpus: Sequence[Gpu]) -> dict[str, str]:
    """Environment that limits a container to its GPUs (none: it sees no GPU at all)."""
    # UUIDs, not indexes: NVML numbers cards in PCI order and CUDA fastest first, so an index
    # can name two different cards; a UUID names the same card to both.
    uuids = ",".join(g.uuid for g in gpus)
    # "void" tells the NVIDIA container runtime, where one is in the path, to add no GPU.
    return {"CUDA_VISIBLE_DEVICES": uuids, "NVIDIA_VISIBLE_DEVICES": uuids or "void"}


def device_nodes(gpus: Sequence[Gpu]) -> list[str]:
    """The /dev paths a container with these GPUs must see: its own, then the shared ones."""
    if not gpus:
        return []
    own = [path for gpu in gpus for path in gpu.device_paths]
    # The control nodes depend on the driver's setup (uvm and modeset load on demand).
    return own + [path for path in CONTROL_NODES if os.path.exists(path)]
