"""Check ketch on a machine with an NVIDIA GPU: one ``gpu="any"`` function, end to end.

Run ``python scripts/gpu_check.py [n]`` where torch (with CUDA) and nvidia-ml-py are installed.
It prints the device the container got, the CUDA_VISIBLE_DEVICES it saw, the cold start (from
entering a fresh ``with app.run():`` to the first result, so it includes starting the control
plane, the container and ``import torch``), a warm call, and the GPU-seconds metered for the run
where this ketch meters them. It exits 1 if the product's checksum is wrong.

The app is at module top level because containers import this file by path to find it.
"""

from __future__ import annotations

import importlib
import sys
import time
from typing import Any

import ketch

app = ketch.App("gpu-check")


@app.function(gpu="any", timeout=600)
def matmul(n: int) -> dict[str, Any]:
    """Multiply two n×n matrices of ones on the GPU; every entry of the product is n."""
    import os

    import torch

    a = torch.ones(n, n, device="cuda")
    product = a @ a
    torch.cuda.synchronize()
    return {
        "device": torch.cuda.get_device_name(0),
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "devices_seen": torch.cuda.device_count(),
        # The sum of n² entries equal to n is n³: exact in float32 for n up to 2**14.
        "checksum": float(product.sum().item()),
    }


def metered_gpu_seconds(app_id: str) -> str:
    """What ketch metered for the app, if this ketch has ``ketch.usage.summary``."""
    try:
        usage = importlib.import_module("ketch.usage")
    except ImportError:
        usage = None
    if usage is None or not hasattr(usage, "summary"):
        return "metering: not available in this ketch"
    try:
        summary = usage.summary(app_id)
    except ketch.exception.Error as exc:
        return f"metering: ketch.usage.summary failed: {exc}"
    if isinstance(summary, dict) and "gpu_seconds" in summary:
        return f"metering: {summary['gpu_seconds']:.1f} GPU-seconds ({summary})"
    return f"metering: {summary!r}"


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    start = time.perf_counter()
    with app.run():
        app_id = app.app_id or ""
        first = matmul.remote(n)
        cold_s = time.perf_counter() - start
        warm_start = time.perf_counter()
        matmul.remote(n)
        warm_s = time.perf_counter() - warm_start
    # Asked after the run has stopped, when every container's seconds have been counted.
    metering = metered_gpu_seconds(app_id)

    print(f"device:               {first['device']}")
    print(f"CUDA_VISIBLE_DEVICES: {first['visible']} ({first['devices_seen']} device(s) seen)")
    print(f"cold start:           {cold_s:.2f} s (fresh app.run() to first result)")
    print(f"warm call:            {warm_s * 1000:.0f} ms")
    print(metering)
    ok = first["checksum"] == float(n) ** 3
    print(f"checksum:             {first['checksum']:.0f} ({'ok' if ok else f'expected {n**3}'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
