"""Sample what each container uses, once a second and when it ends, for the control plane.

CPU comes from the container's cgroup as the CPU seconds used since the last sample; memory as
the bytes in use at the sample. The `process` runtime cannot measure either, so its samples
carry None and the container is billed its reservation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ..backends import Driver, TaskHandle
from ..protocol.worker import UsageSample

SAMPLE_S = 1.0


class UsageMeter:
    """Example::

        meter = UsageMeter(driver, handle, {"H100": 1}, report)
        task = asyncio.ensure_future(meter.run())   # report(sample) every second
        ...
        report(meter.sample())                      # the last stretch, before the cgroup goes
    """

    def __init__(self, driver: Driver, handle: TaskHandle, gpus: dict[str, int],
                 report: Callable[[UsageSample], None]) -> None:
        self._driver = driver
        self._handle = handle
        self._gpus = gpus
        self._report = report
        self._last_t = time.monotonic()
        self._last_cpu = 0.0

    def sample(self) -> UsageSample:
        now = time.monotonic()
        seconds, self._last_t = now - self._last_t, now
        try:
            stats = self._driver.task_stats(self._handle)
        except OSError:
            stats = None
        if stats is None:
            return UsageSample(seconds, None, None, dict(self._gpus))
        cpu, self._last_cpu = max(0.0, stats.cpu_s - self._last_cpu), stats.cpu_s
        return UsageSample(seconds, cpu, stats.memory_bytes, dict(self._gpus))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_S)
            self._report(self.sample())
