"""Usage and cost as the control plane metered them (ketch's own; Modal keeps this in its
dashboard).

Example::

    with app.run():
        square.remote(2)
        app_id = app.app_id
    print(ketch.usage.describe(ketch.usage.summary(app_id)))
"""

from __future__ import annotations

from typing import Any

import msgspec

from . import config
from .client import send
from .protocol import client as protocol
from .synchronizer import aio_function

TOTALS = ("cpu_s", "memory_gib_s", "gpu_s", "cost")


async def _query(by: str = "app", since: float | None = None, until: float | None = None,
                 app_id: str | None = None, environment_name: str | None = None
                 ) -> list[dict[str, Any]]:
    answer = await send(protocol.UsageQuery(
        group_by=by, since=since, until=until, app_id=app_id,  # type: ignore[arg-type]
        environment=environment_name or config.environment()))
    return [msgspec.structs.asdict(row) for row in answer.rows]


query = aio_function(_query)
"""Rows of usage grouped ``by`` app, function, call, day or hour (UTC epoch seconds bounds)."""


def summary(app_id: str) -> dict[str, float]:
    """Totals for one app run: CPU core-seconds, memory GiB-seconds, GPU-seconds, dollars."""
    rows = query(by="app", app_id=app_id)
    return {key: float(sum(row[key] or 0.0 for row in rows)) for key in TOTALS}


def describe(totals: dict[str, float]) -> str:
    gpu = f", {totals['gpu_s']:.1f} GPU-s" if totals.get("gpu_s") else ""
    return (f"used {totals['cpu_s']:.2f} CPU core-s, {totals['memory_gib_s']:.2f} GiB-s of "
            f"memory{gpu}; cost ${totals['cost']:.6f}")
