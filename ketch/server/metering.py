"""Turn the worker's usage samples into billed usage, attributed to app, function and call.

Each sample is billed (see `pricing`) and split evenly between the calls whose inputs the
container held when it was taken (an idle container's time belongs to no call). Rows gather
in memory and reach the store in one transaction per flush.
"""

from __future__ import annotations

import time
from typing import Any

from ..protocol import client as protocol
from ..protocol.definition import SandboxDefinition
from ..protocol.worker import UsageSample
from ..worker.resources import Request
from .auth import Identity
from .dispatch import ContainerState, FunctionState
from .pricing import bill, prices
from .store import Store


class Meter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._prices = prices()
        self._rows: list[tuple[Any, ...]] = []

    def record(self, fn: FunctionState, app_name: str, ct: ContainerState,
               sample: UsageSample) -> None:
        calls = ct.calls_since_sample() or [""]
        options = fn.options
        request = Request.of(options.cpu, options.memory, options.gpu)
        self._add(fn.app_id, app_name, fn.family_id, fn.name, calls, request, sample)

    def record_sandbox(self, app_id: str, app_name: str, sandbox_id: str,
                       options: SandboxDefinition, sample: UsageSample) -> None:
        """A sandbox's usage: billed as a function named "sandbox" whose id is the sandbox's."""
        request = Request.of(options.cpu, options.memory, options.gpu)
        self._add(app_id, app_name, sandbox_id, "sandbox", [""], request, sample)

    def _add(self, app_id: str, app_name: str, family_id: str, name: str, calls: list[str],
             request: Request, sample: UsageSample) -> None:
        billed = bill(sample, request.cpu, request.memory_mib, self._prices)
        share = 1.0 / len(calls)
        hour = float(int(time.time() // 3600 * 3600))
        gpu_type, gpu_s = next(iter(billed.gpu_s.items()), ("", 0.0))
        for call_id in calls:
            self._rows.append((
                hour, app_id, app_name, family_id, name, call_id, gpu_type,
                billed.cpu_s * share, billed.memory_gib_s * share, gpu_s * share,
                billed.cost * share,
            ))

    def flush(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            self._store.add_usage(rows)

    async def billing_rates(self, req: protocol.BillingRates, caller: Identity
                            ) -> protocol.Rates:
        return protocol.Rates(prices=dict(self._prices))

    async def usage_query(self, req: protocol.UsageQuery, caller: Identity
                          ) -> protocol.UsageRows:
        self.flush()
        rows = self._store.usage(req.group_by, req.since, req.until, req.app_id,
                                 req.environment)
        return protocol.UsageRows(rows=[protocol.UsageRow(**row) for row in rows])
