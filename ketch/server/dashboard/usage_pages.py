"""Usage and cost: the figures of ``ketch usage``, by app, function, day or hour, as a table
and a chart (Chart.js, vendored in static/).

The rows are the answer to the same ``usage_query`` request the CLI makes, as the signed-in
token, for the chosen environment (``ketch usage --env NAME``); the chart draws one of their
columns.
"""

from __future__ import annotations

import time
from collections.abc import Collection

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...protocol import client as protocol
from .site import Site

GROUPS = ("app", "function", "day", "hour")
SPANS = {"1d": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "all": None}
METRICS = {"cost": "cost ($)", "cpu_s": "CPU core-s", "memory_gib_s": "memory GiB-s",
           "gpu_s": "GPU-s"}


def add_routes(site: Site) -> None:
    async def usage(request: Request) -> Response:
        query = request.query_params
        by = _choice(query.get("by"), GROUPS, "app")
        span = _choice(query.get("since"), SPANS, "7d")
        metric = _choice(query.get("metric"), METRICS, "cost")
        seconds = SPANS[span]
        since = time.time() - seconds if seconds else None
        rows = (await site.ask(request, protocol.UsageQuery(
            group_by=by, since=since, environment=site.environment(request)))).rows  # type: ignore[arg-type]
        chart = {"labels": [row.group or "(idle)" for row in rows],
                 "label": METRICS[metric], "values": [getattr(row, metric) or 0 for row in rows]}
        return site.page(request, "usage.html", rows=rows, by=by, since=span, metric=metric,
                         groups=GROUPS, spans=SPANS, metrics=METRICS, chart=chart)

    site.add(Route("/usage", site.guarded(usage)))


def _choice(value: str | None, allowed: Collection[str], default: str) -> str:
    return value if value is not None and value in allowed else default
