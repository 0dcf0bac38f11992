"""The GPU inventory: naming, whole and exclusive allocation, fallbacks, what a container sees.

Discovery is tested through ``KETCH_FAKE_GPUS``, which replaces only the NVML boundary, and
through the real nvidia-ml-py on this GPU-less machine (NVML cannot start: no GPUs).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

import pytest

from ketch import exception
from ketch.worker import gpus
from ketch.worker.gpus import Gpu, Inventory, device_nodes, discover, modal_name, visible_devices


def inventory(monkeypatch: pytest.MonkeyPatch, spec: str) -> Inventory:
    monkeypatch.setenv("KETCH_FAKE_GPUS", spec)
    return Inventory(discover())


@pytest.mark.parametrize(
    ("nvml_name", "memory_mib", "expected"),
    [
        ("Tesla T4", 15360, "T4"),
        ("NVIDIA L4", 23034, "L4"),
        ("NVIDIA A10", 23028, "A10"),
        ("NVIDIA A10G", 23028, "A10"),
        ("NVIDIA L40S", 46068, "L40S"),
        ("NVIDIA A100-SXM4-40GB", 40960, "A100-40GB"),
        ("NVIDIA A100-PCIE-40GB", 40960, "A100-40GB"),
        ("NVIDIA A100-SXM4-80GB", 81920, "A100-80GB"),
        ("NVIDIA A100 80GB PCIe", 81920, "A100-80GB"),
        ("NVIDIA A100-SXM4", 81920, "A100-80GB"),  # the name does not say; the memory does
        ("NVIDIA A100-SXM4", 40960, "A100-40GB"),
        ("NVIDIA A100 80GB PCIe", 0, "A100-80GB"),  # memory unknown: the name decides
        ("NVIDIA H100 80GB HBM3", 81559, "H100"),
        ("NVIDIA H100 PCIe", 81559, "H100"),
        ("NVIDIA H100 NVL", 95830, "H100"),
        ("NVIDIA H200", 143771, "H200"),
        ("NVIDIA H200 NVL", 143771, "H200"),
        ("NVIDIA B200", 183359, "B200"),
        ("NVIDIA GH200 480GB", 97871, "GH200-480GB"),  # a Grace superchip, not an H200
        ("NVIDIA L40", 46068, "L40"),  # not an L40S, not an L4
        ("NVIDIA GeForce RTX 4090", 24564, "GEFORCE-RTX-4090"),
    ],
)
def test_nvml_names_map_to_modal_names(nvml_name: str, memory_mib: int, expected: str) -> None:
    assert modal_name(nvml_name, memory_mib) == expected


def test_fake_gpus_look_like_discovered_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KETCH_FAKE_GPUS", "H100:2, a10g")
    found = discover()
    assert [(g.index, g.uuid, g.model, g.device_paths) for g in found] == [
        (0, "GPU-fake-0", "H100", ["/dev/nvidia0"]),
        (1, "GPU-fake-1", "H100", ["/dev/nvidia1"]),
        (2, "GPU-fake-2", "A10", ["/dev/nvidia2"]),
    ]
    assert found[0].memory_mib > 80_000
    assert len(set(found)) == 3  # hashable despite the list field
    monkeypatch.setenv("KETCH_FAKE_GPUS", "H100:two")
    with pytest.raises(exception.InvalidError, match="H100:2,A10:1"):
        discover()


def test_allocation_is_whole_and_exclusive(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "H100:3")
    first = inv.allocate("H100:2", owner="a")
    assert first is not None and [g.index for g in first] == [0, 1]
    assert inv.allocate("H100:2", owner="b") is None  # one is left: no partial allocation
    second = inv.allocate("H100:1", owner="b")
    assert second is not None and [g.index for g in second] == [2]
    assert inv.allocate("H100:1", owner="c") is None
    assert inv.free() == {} and inv.total() == {"H100": 3}


def test_no_request_gets_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "")
    assert inv.allocate(None, owner="a") == []
    assert inv.can_ever_fit(None) is None


def test_fallback_list_takes_the_first_that_fits_now(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "A10:1,H100:1")
    got = inv.allocate(["H100:1", "A10:1"], owner="a")
    assert got is not None and got[0].model == "H100"
    got = inv.allocate(["H100:1", "A10:1"], owner="b")  # the H100 is taken: fall back
    assert got is not None and got[0].model == "A10"
    assert inv.allocate(["H100:1", "A10:1"], owner="c") is None
    assert inv.can_ever_fit(["B200:1", "A10:1"]) is None  # one entry fits: enough


def test_any_takes_the_smallest_model_and_never_mixes(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "H100:1,T4:1,L4:2")
    got = inv.allocate("ANY:1", owner="a")
    assert got is not None and got[0].model == "T4"
    got = inv.allocate("ANY:2", owner="b")
    assert got is not None and {g.model for g in got} == {"L4"}
    assert inv.allocate("ANY:1", owner="c") == [inv.gpus[0]]  # only the H100 is left
    assert inv.can_ever_fit("ANY:3") is not None  # 4 GPUs, but at most 2 of one model


def test_modal_upgrades_and_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "H200:1,A100-80GB:1,A10:1")
    assert inv.can_ever_fit("H100:1") is None  # may be upgraded to an H200, as on Modal
    assert inv.can_ever_fit("H100!:1") is not None  # pinned: H100 only
    assert inv.can_ever_fit("A100:1") is None
    assert inv.can_ever_fit("A100-40GB:1") is not None
    got = inv.allocate("A10G:1", owner="a")
    assert got is not None and got[0].model == "A10"


def test_can_ever_fit_names_the_request_and_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "A10:2")
    message = inv.can_ever_fit("H100:1")
    assert message is not None
    assert "'H100:1'" in message and "no H100" in message and "(it has: 2× A10)" in message
    message = inv.can_ever_fit("A10:3")
    assert message is not None and "fewer than 3× A10" in message
    message = inv.can_ever_fit(["H100:1", "L4:1"])
    assert message is not None and "no H100" in message and "no L4" in message
    assert inv.can_ever_fit("A10:2") is None
    inv.allocate("A10:2", owner="a")
    assert inv.can_ever_fit("A10:2") is None  # taken now, but it fits the node: wait

    empty = inventory(monkeypatch, "")
    message = empty.can_ever_fit("ANY:1")
    assert message is not None and message.endswith("this node has no GPUs")


def test_bad_request_is_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "A10:1")
    with pytest.raises(exception.InvalidError, match="H100:2"):
        inv.allocate("A10:x", owner="a")


def test_release_frees_only_the_owners_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "L4:3")
    inv.allocate("L4:2", owner="a")
    inv.allocate("L4:1", owner="b")
    assert [g.index for g in inv.release("a")] == [0, 1]
    assert inv.free() == {"L4": 2}
    assert inv.release("a") == []
    got = inv.allocate("L4:2", owner="c")
    assert got is not None and [g.index for g in got] == [0, 1]


def test_visible_devices_and_device_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = inventory(monkeypatch, "H100:2")
    got = inv.allocate("H100:1", owner="a")
    assert got is not None
    [mine] = got
    assert visible_devices([mine]) == {
        "CUDA_VISIBLE_DEVICES": "GPU-fake-0", "NVIDIA_VISIBLE_DEVICES": "GPU-fake-0"}
    assert visible_devices(inv.gpus)["CUDA_VISIBLE_DEVICES"] == "GPU-fake-0,GPU-fake-1"
    assert visible_devices([]) == {"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "void"}

    present = {"/dev/nvidiactl", "/dev/nvidia-uvm"}
    monkeypatch.setattr(gpus.os.path, "exists", lambda path: path in present)
    assert device_nodes([mine]) == ["/dev/nvidia0", "/dev/nvidiactl", "/dev/nvidia-uvm"]
    assert device_nodes([]) == []


def test_discover_without_nvml_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KETCH_FAKE_GPUS", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    assert discover() == []


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is None, reason="needs nvidia-ml-py")
@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="this machine has an NVIDIA driver")
def test_discover_without_a_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KETCH_FAKE_GPUS", raising=False)
    assert discover() == []


def test_discover_reads_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for pynvml, to check what discover makes of NVML's answers."""

    class NVMLError(Exception):
        pass

    def minor(handle: int) -> int:
        if handle == 1:
            raise NVMLError("not supported")
        return 4

    calls: list[str] = []
    nvml = types.SimpleNamespace(
        NVMLError=NVMLError,
        nvmlInit=lambda: calls.append("init"),
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: [b"NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3"][h],
        nvmlDeviceGetUUID=lambda h: f"GPU-{h}",
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(total=80 * 2**30),
        nvmlDeviceGetMinorNumber=minor,
    )
    monkeypatch.delenv("KETCH_FAKE_GPUS", raising=False)
    monkeypatch.setitem(sys.modules, "pynvml", nvml)
    assert discover() == [
        Gpu(0, "GPU-0", "A100-80GB", 81920, ["/dev/nvidia4"]),
        Gpu(1, "GPU-1", "H100", 81920, ["/dev/nvidia1"]),
    ]
    assert calls == ["init", "shutdown"]
