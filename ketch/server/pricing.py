"""What a second of CPU, memory and each GPU costs, and what a usage sample is billed.

Defaults are Modal's published per-second rates; ``[prices]`` in ``KETCH_HOME/config.toml``
overrides any of them. CPU and memory are billed as the larger of what was reserved and what
was used, second by second, as Modal bills them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import config, exception
from ..protocol.worker import UsageSample

DEFAULT_PRICES: dict[str, float] = {
    "cpu": 0.0000131,  # per core-second
    "memory": 0.00000222,  # per GiB-second
    "T4": 0.000164,
    "L4": 0.000222,
    "A10": 0.000306,
    "L40S": 0.000542,
    "A100-40GB": 0.000583,
    "A100-80GB": 0.000694,
    "H100": 0.001097,
    "H200": 0.001261,
    "B200": 0.001736,
}


def prices() -> dict[str, float]:
    table = dict(DEFAULT_PRICES)
    for key, value in (config.settings().get("prices") or {}).items():
        if not isinstance(value, (int, float)) or value < 0:
            raise exception.InvalidError(f"price {key!r} in config.toml must be a number ≥ 0")
        table[str(key)] = float(value)
    return table


@dataclass(frozen=True)
class Bill:
    cpu_s: float  # core-seconds billed
    memory_gib_s: float  # GiB-seconds billed
    gpu_s: dict[str, float]  # GPU-seconds billed, by model
    cost: float  # dollars


def bill(sample: UsageSample, cpu_request: float, memory_request_mib: int,
         table: dict[str, Any]) -> Bill:
    reserved_cpu = cpu_request * sample.seconds
    cpu_s = max(reserved_cpu, sample.cpu_s or 0.0)
    used_gib = (sample.memory_bytes or 0) / 2**30
    memory_gib_s = max(memory_request_mib / 1024, used_gib) * sample.seconds
    gpu_s = {model: count * sample.seconds for model, count in sample.gpus.items()}
    cost = cpu_s * table["cpu"] + memory_gib_s * table["memory"]
    cost += sum(seconds * table.get(model, 0.0) for model, seconds in gpu_s.items())
    return Bill(cpu_s, memory_gib_s, gpu_s, cost)
