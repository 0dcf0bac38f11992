"""``billing.workspace_billing_report``: cost by app and day or hour, from ketch's metering.

Example::

    from datetime import datetime, timedelta, timezone
    start = datetime.now(timezone.utc) - timedelta(days=7)
    for item in ketch.billing.workspace_billing_report(start=start, resolution="d"):
        print(item["interval_start"].date(), item["description"], item["cost"])

As Modal's: one item for each app in each interval (``"d"``, days, or ``"h"``, hours, in UTC)
that used anything; ``start`` is rounded down to its interval, a partial last interval is left
out, and naive datetimes are taken as UTC. ``cost`` is a Decimal of dollars at the control
plane's prices (``ketch usage`` shows the same figures). ketch keeps no tags on apps, so
``tags`` is empty whatever ``tag_names`` asks for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict

from . import exception
from .synchronizer import aio_function
from .types import BillingReportItem
from .usage import _query

INTERVALS = {"d": 86400, "h": 3600}


class WorkspaceBillingReportItem(TypedDict):
    object_id: str
    description: str
    environment_name: str
    interval_start: datetime
    cost: Decimal
    tags: dict[str, str]



def _epoch(when: datetime, what: str) -> float:
    if not isinstance(when, datetime):
        raise exception.InvalidError(f"{what} is a datetime, not {when!r}")
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


async def _workspace_billing_report(*, start: datetime, end: datetime | None = None,
                                    resolution: str = "d", tag_names: list[str] | None = None,
                                    client: Any = None) -> list[WorkspaceBillingReportItem]:
    if resolution not in INTERVALS:
        raise exception.InvalidError(f"resolution is 'd' (days) or 'h' (hours), not {resolution!r}")
    step = INTERVALS[resolution]
    since = _epoch(start, "start") // step * step
    until = (_epoch(end, "end") if end is not None else datetime.now(UTC).timestamp())
    until = until // step * step  # a partial last interval is left out
    rows = await _query(by="app_day" if resolution == "d" else "app_hour", since=since,
                        until=until)
    items: list[WorkspaceBillingReportItem] = []
    for row in rows:
        app_id, name, when = str(row["group"]).split("\x1f")
        items.append({"object_id": app_id, "description": name, "environment_name": "main",
                      "interval_start": datetime.fromtimestamp(int(when), UTC),
                      "cost": Decimal(str(row["cost"] or 0)), "tags": {}})
    return items


workspace_billing_report = aio_function(_workspace_billing_report)

__all__ = ["BillingReportItem", "WorkspaceBillingReportItem", "workspace_billing_report"]
