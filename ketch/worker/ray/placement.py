"""How a container's request becomes a Ray actor's resources, and whether the cluster holds it.

A container asks for CPU cores, memory and GPUs (`ContainerSpec`); its actor asks Ray for the
same ``num_cpus``, ``memory`` and ``num_gpus``. A GPU model is Ray's ``accelerator_type``: a
node with NVIDIA GPUs advertises ``accelerator_type:<model>`` by itself (Ray reads the model
through NVML), and any node can advertise one by hand::

    ray start --address head:6379 --num-gpus 8 --resources '{"accelerator_type:H100": 1}'

A function's `SchedulerPlacement` is a set of node labels, each a resource a node advertises
by hand (``region:eu-west``, ``zone:eu-west-1a``, ``instance_type:g5.xlarge``, ``spot``): its
actor asks for a sliver of one label of each kind it names, so Ray places it only on such a
node.

Example::

    options = placement.options(spec, nodes)   # {"num_cpus": 0.5, "memory": …, "num_gpus": 1,
                                                #  "accelerator_type": "H100"}, or None
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...protocol.worker import ContainerSpec, NodeUsage
from ..resources import Request

GPU_TYPE_PREFIX = "accelerator_type:"
# ketch's (Modal's) GPU request types → the Ray accelerator types that satisfy them, preferred
# first. Ray names an A10G "A10G" and every A100 "A100"; the sized A100 names are the labels Ray
# documents for nodes that advertise the size by hand.
RAY_TYPES: dict[str, tuple[str, ...]] = {
    "T4": ("T4",), "L4": ("L4",), "A10": ("A10G", "A10"), "A10G": ("A10G", "A10"),
    "L40S": ("L40S",), "A100": ("A100", "A100-40G", "A100-80G"),
    "A100-40GB": ("A100-40G",), "A100-80GB": ("A100-80G",),
    "H100": ("H100", "H200"), "H100!": ("H100",), "H200": ("H200",), "B200": ("B200",),
}

Resources = Mapping[str, float]


def request_of(spec: ContainerSpec) -> Request:
    return Request.of(spec.cpu, spec.memory_mb, spec.gpu)


def gpu_choices(gpu: Any) -> list[tuple[int, str | None]]:
    """The ``(count, Ray accelerator type or None for any)`` pairs that satisfy a normalized gpu
    option (``"H100:2"``, ``"ANY:1"``, a fallback list of those), preferred first."""
    if gpu is None:
        return []
    choices: list[tuple[int, str | None]] = []
    for item in [gpu] if isinstance(gpu, str) else gpu:
        kind, _, count = item.upper().partition(":")
        n = int(count or 1)
        if kind == "ANY":
            choices.append((n, None))
        else:
            choices.extend((n, ray_type) for ray_type in RAY_TYPES.get(kind, (kind,)))
    return choices


LABEL = 0.001  # of a node's label resource: it holds any number of containers


def label_choices(spec: ContainerSpec) -> list[list[str]]:
    """For each label kind the placement names, the resources any one of which will do."""
    wanted = spec.placement or {}
    kinds = [[f"{kind}:{name}" for name in wanted[kind]]
             for kind in ("region", "zone", "instance_type") if wanted.get(kind)]
    return kinds + ([["spot"]] if wanted.get("spot") else [])


def _labels(resources: Resources, spec: ContainerSpec) -> dict[str, float] | None:
    """The label resources of this node that meet the placement, or None if it does not."""
    chosen = {}
    for choices in label_choices(spec):
        found = next((label for label in choices if resources.get(label, 0) > 0), None)
        if found is None:
            return None
        chosen[found] = LABEL
    return chosen


def _holds(resources: Resources, cpu: float, memory: int, gpus: int, gpu_type: str | None) -> bool:
    if gpu_type is not None and resources.get(GPU_TYPE_PREFIX + gpu_type, 0) <= 0:
        return False
    return (resources.get("CPU", 0) + 1e-9 >= cpu and resources.get("memory", 0) >= memory
            and resources.get("GPU", 0) + 1e-9 >= gpus)


def options(spec: ContainerSpec, nodes: Sequence[Resources],
            free: Resources | None = None) -> dict[str, Any] | None:
    """Ray actor options for the container: for the first GPU choice that a node of ``nodes``
    (their total resources) can hold, preferring one the cluster has ``free`` now. None when no
    node could hold it."""
    request = request_of(spec)
    memory = request.memory_mib * 2**20
    choices = gpu_choices(request.gpu) or [(0, None)]
    placed = [(node, labels) for node in nodes if (labels := _labels(node, spec)) is not None]
    possible = [(n, t, labels) for n, t in choices for node, labels in placed
                if _holds(node, request.cpu, memory, n, t)]
    if not possible:
        return None
    if free is not None:
        # Summed over the cluster, so a guess (the free GPUs may be of another type) that
        # Ray's placement settles; a choice that fits nowhere now still waits for room.
        possible.sort(key=lambda c: not _holds(free, request.cpu, memory, c[0], c[1]))
    gpus, gpu_type, labels = possible[0]
    return _options(request.cpu, memory, gpus, gpu_type, labels)


def first_choice(spec: ContainerSpec) -> dict[str, Any]:
    """Ray actor options for the container's first GPU choice, whatever the nodes: for a
    container that waits for a node Ray's autoscaler has yet to add."""
    request = request_of(spec)
    choices = gpu_choices(request.gpu) or [(0, None)]
    labels = {choices_[0]: LABEL for choices_ in label_choices(spec)}
    return _options(request.cpu, request.memory_mib * 2**20, *choices[0], labels)


def _options(cpu: float, memory: int, gpus: int, gpu_type: str | None,
             labels: dict[str, float]) -> dict[str, Any]:
    chosen: dict[str, Any] = {"num_cpus": cpu, "memory": memory}
    if gpus:
        chosen["num_gpus"] = gpus
    if gpu_type is not None:
        chosen["accelerator_type"] = gpu_type
    if labels:
        chosen["resources"] = labels
    return chosen


def _types(nodes: Sequence[Resources]) -> dict[str, float]:
    return {key: 1.0 for node in nodes for key in node if key.startswith(GPU_TYPE_PREFIX)}


def never_fits(spec: ContainerSpec, nodes: Sequence[Resources]) -> str | None:
    """Why no node of the cluster could hold the container, or None."""
    if options(spec, nodes) is not None:
        return None
    request = request_of(spec)
    if not nodes:
        return "the Ray cluster has no nodes"
    if label_choices(spec) and not any(_labels(node, spec) is not None for node in nodes):
        labels = " and ".join(" or ".join(c) for c in label_choices(spec))
        return (f"no node of the Ray cluster is labelled {labels}, as the function's "
                f"scheduler_placement asks (a node advertises a label with `ray start "
                f"--resources '{{\"{label_choices(spec)[0][0]}\": 1}}'`)")
    biggest = max(nodes, key=lambda n: (n.get("CPU", 0), n.get("memory", 0)))
    has = (f"its largest node has {biggest.get('CPU', 0):g} CPU, "
           f"{int(biggest.get('memory', 0)) // 2**20} MiB")
    types = sorted(t.removeprefix(GPU_TYPE_PREFIX) for t in _types(nodes))
    gpus = f"; its GPU types: {', '.join(types)}" if types else "; it has no GPU types"
    advertise = ""
    if request.gpu:
        wanted = [t for _, t in gpu_choices(request.gpu) if t]
        if wanted:
            advertise = (f" (a node advertises a GPU type with `ray start --resources "
                         f"'{{\"{GPU_TYPE_PREFIX}{wanted[0]}\": 1}}'`)")
    return f"no node of the Ray cluster can hold {request.describe()}: {has}{gpus}{advertise}"


def covers(free: Resources, chosen: Mapping[str, Any]) -> bool:
    """Whether ``free`` (summed over the cluster) has room for actor options ``chosen``."""
    return (free.get("CPU", 0) + 1e-9 >= chosen["num_cpus"]
            and free.get("memory", 0) >= chosen["memory"]
            and free.get("GPU", 0) + 1e-9 >= chosen.get("num_gpus", 0))


def minus(free: Resources, chosen: Mapping[str, Any]) -> dict[str, float]:
    """``free`` less what an actor with options ``chosen`` takes."""
    left = dict(free)
    for key, option in (("CPU", "num_cpus"), ("memory", "memory"), ("GPU", "num_gpus")):
        left[key] = left.get(key, 0) - float(chosen.get(option, 0))
    return left


def node_usage(node: Mapping[str, Any], placed: Sequence[Mapping[str, Any]]) -> NodeUsage:
    """A Ray node (as ``ray.nodes()`` describes it) and the actor options of ketch's
    containers placed on it, as the dashboard's nodes page shows them."""
    resources = node.get("Resources") or {}
    types = [k.removeprefix(GPU_TYPE_PREFIX) for k in resources if k.startswith(GPU_TYPE_PREFIX)]
    model = types[0] if len(types) == 1 else "GPU"  # a node's GPUs are of one type, as a rule
    gpus = int(resources.get("GPU", 0))
    held = sum(int(c.get("num_gpus", 0)) for c in placed)
    return NodeUsage(
        str(node.get("NodeManagerAddress") or node.get("NodeID") or "?"),
        float(resources.get("CPU", 0)), sum(float(c.get("num_cpus", 0)) for c in placed),
        int(resources.get("memory", 0)) // 2**20,
        sum(int(c.get("memory", 0)) for c in placed) // 2**20,
        {model: gpus} if gpus else {}, {model: held} if gpus else {})
