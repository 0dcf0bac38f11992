"""How a container's request becomes a Ray actor's resources (no Ray needed)."""

from __future__ import annotations

from ketch.protocol.worker import ContainerSpec
from ketch.worker.ray import placement

GIB = 2**30
CPU_NODE = {"CPU": 8.0, "memory": 32 * GIB}
H100_NODE = {"CPU": 16.0, "memory": 64 * GIB, "GPU": 8.0, "accelerator_type:H100": 1.0}
A10_NODE = {"CPU": 4.0, "memory": 16 * GIB, "GPU": 1.0, "accelerator_type:A10G": 1.0}


def spec(**kw) -> ContainerSpec:
    return ContainerSpec("ct-1", "fu-1", "f", "ap-1", "127.0.0.1:7077", "token", **kw)


def test_a_request_becomes_ray_resources():
    assert placement.options(spec(), [CPU_NODE]) == {"num_cpus": 0.125, "memory": 128 * 2**20}
    assert placement.options(spec(cpu=2, memory_mb=1024, gpu="H100:2"), [CPU_NODE, H100_NODE]) == {
        "num_cpus": 2.0, "memory": GIB, "num_gpus": 2, "accelerator_type": "H100"}
    assert placement.options(spec(gpu="ANY:1"), [A10_NODE]) == {
        "num_cpus": 0.125, "memory": 128 * 2**20, "num_gpus": 1}


def test_modal_gpu_names_map_to_ray_accelerator_types():
    assert placement.gpu_choices("A10:1") == [(1, "A10G"), (1, "A10")]
    assert placement.gpu_choices("H100:1") == [(1, "H100"), (1, "H200")]  # upgradable, as on Modal
    assert placement.gpu_choices("H100!:1") == [(1, "H100")]
    assert placement.gpu_choices(["A100-80GB:2", "ANY:4"]) == [(2, "A100-80G"), (4, None)]


def test_a_fallback_the_cluster_has_free_is_preferred():
    both = [H100_NODE, A10_NODE]
    request = spec(gpu=["H100:1", "A10:1"])
    free_a10_only = {"CPU": 20.0, "memory": 80 * GIB, "GPU": 1.0, "accelerator_type:A10G": 1.0}
    assert placement.options(request, both)["accelerator_type"] == "H100"
    assert placement.options(request, both, free_a10_only)["accelerator_type"] == "A10G"


def test_a_request_no_node_holds_says_why_and_how_to_add_one():
    assert placement.never_fits(spec(gpu="H100:1"), [CPU_NODE, H100_NODE]) is None
    problem = placement.never_fits(spec(gpu="L4:1"), [CPU_NODE, H100_NODE])
    assert "no node of the Ray cluster can hold 0.125 CPU, 128 MiB, gpu L4:1" in problem
    assert "its GPU types: H100" in problem
    assert """ray start --resources '{"accelerator_type:L4": 1}'""" in problem
    assert "largest node has 16 CPU" in placement.never_fits(spec(cpu=32), [CPU_NODE, H100_NODE])


def test_room_is_counted_over_the_cluster():
    chosen = placement.options(spec(cpu=1), [CPU_NODE])
    free = {"CPU": 1.5, "memory": GIB}
    assert placement.covers(free, chosen)
    assert not placement.covers(placement.minus(free, chosen), chosen)


def test_a_scheduler_placement_asks_for_a_node_with_its_labels():
    eu = {**CPU_NODE, "region:eu-west": 1.0, "spot": 1.0}
    us = {**CPU_NODE, "region:us-east": 1.0}
    wanted = spec(placement={"region": ["eu-west", "eu-north"], "spot": True})
    assert placement.options(wanted, [us, eu])["resources"] == {"region:eu-west": 0.001,
                                                                "spot": 0.001}
    assert placement.options(wanted, [us]) is None
    problem = placement.never_fits(spec(placement={"region": ["mars"]}), [us, eu])
    assert "labelled region:mars" in problem and "ray start --resources" in problem
    assert "resources" not in placement.options(spec(placement={"spot": False}), [us])


def test_a_nodes_use_for_the_dashboard():
    chosen = [placement.options(spec(cpu=2, memory_mb=1024, gpu="H100:2"), [H100_NODE]),
              placement.options(spec(), [H100_NODE])]
    node = {"NodeID": "n1", "NodeManagerAddress": "10.0.0.5", "Resources": H100_NODE}
    shown = placement.node_usage(node, chosen)
    assert (shown.name, shown.cpu, shown.cpu_reserved) == ("10.0.0.5", 16.0, 2.125)
    assert (shown.memory_mib, shown.memory_reserved_mib) == (64 * 1024, 1024 + 128)
    assert (shown.gpus, shown.gpus_reserved) == ({"H100": 8}, {"H100": 2})
    empty = placement.node_usage({"NodeID": "n2", "Resources": CPU_NODE}, [])
    assert (empty.name, empty.cpu_reserved, empty.gpus) == ("n2", 0.0, {})
