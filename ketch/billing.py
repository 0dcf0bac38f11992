"""Cost reports from ketch's metering: ``billing.workspace_billing_report`` and what
``Environment.billing`` and ``Workspace.billing`` answer.

Example::

    from datetime import datetime, timedelta, timezone
    start = datetime.now(timezone.utc) - timedelta(days=7)
    for item in ketch.billing.workspace_billing_report(start=start, resolution="d"):
        print(item["interval_start"].date(), item["description"], item["cost"])

As Modal's: one item for each app in each interval (``"d"``, days, or ``"h"``, hours, in UTC)
that used anything; ``start`` is rounded down to its interval, a partial last interval is left
out, and naive datetimes are taken as UTC. ``cost`` is a Decimal of dollars at the control
plane's prices (``ketch usage`` shows the same figures), broken down into ``cpu``, ``memory``
and ``gpu``. ketch keeps no tags on apps, so ``tags`` is empty whatever ``tag_names`` asks for.
A workspace's report covers every environment the caller's token may use.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypedDict

from . import exception
from .client import get_client, use
from .protocol import client as protocol
from .synchronizer import aio_function
from .types import BillingReportItem, EnvironmentBillingSummary
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
    elif when.utcoffset() != UTC.utcoffset(None):
        raise exception.InvalidError(f"a timezone-aware {what!r} must be in UTC")
    return when.timestamp()


async def report(*, start: datetime, end: datetime | None, resolution: str,
                 environments: list[str] | None) -> list[BillingReportItem]:
    """Each app's cost in each interval, in ``environments`` (None: every one the caller may
    use)."""
    if resolution not in INTERVALS:
        raise exception.InvalidError(f"resolution is 'd' (days) or 'h' (hours), not {resolution!r}")
    step = INTERVALS[resolution]
    since = _epoch(start, "start") // step * step
    until = (_epoch(end, "end") if end is not None else datetime.now(UTC).timestamp())
    until = until // step * step  # a partial last interval is left out
    prices = await _prices()
    items = []
    for environment in environments or await _usable_environments():
        rows = await _query(by="app_day" if resolution == "d" else "app_hour", since=since,
                            until=until, environment_name=environment)
        for row in rows:
            app_id, name, when = str(row["group"]).split("\x1f")
            items.append(BillingReportItem(
                object_id=app_id, description=name, environment_name=environment,
                interval_start=datetime.fromtimestamp(int(when), UTC),
                cost=_dollars(row["cost"]), cost_by_resource=_breakdown(row, prices), tags={}))
    return items


async def summary(cycle: str | datetime | None, environments: list[str] | None
                  ) -> EnvironmentBillingSummary:
    """The metered cost of one billing cycle (a calendar month, UTC) so far."""
    start = _cycle(cycle)
    end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    prices = await _prices()
    total, breakdown = Decimal(0), {"cpu": Decimal(0), "memory": Decimal(0), "gpu": Decimal(0)}
    for environment in environments or await _usable_environments():
        for row in await _query(by="app", since=start.timestamp(), until=end.timestamp(),
                                environment_name=environment):
            total += _dollars(row["cost"])
            for key, value in _breakdown(row, prices).items():
                breakdown[key] += value
    return EnvironmentBillingSummary(start=start, end=end, metered_cost=total,
                                     metered_cost_breakdown=breakdown)


def _cycle(cycle: str | datetime | None) -> datetime:
    now = datetime.now(UTC)
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if cycle is None or cycle == "this month":
        return this_month
    if cycle == "last month":
        return this_month.replace(year=this_month.year - (this_month.month == 1),
                                  month=(this_month.month - 2) % 12 + 1)
    if isinstance(cycle, str):
        try:
            start = datetime.strptime(cycle, "%Y-%m").replace(tzinfo=UTC)
        except ValueError:
            raise exception.InvalidError(
                f"cycle {cycle!r}: give a month as YYYY-MM, 'this month' or 'last month'"
            ) from None
    else:
        start = datetime.fromtimestamp(_epoch(cycle, "cycle"), UTC)
    if (start.day, start.hour, start.minute, start.second, start.microsecond) != (1, 0, 0, 0, 0):
        raise exception.InvalidError("a billing cycle starts on the first of a month (UTC)")
    if start > now:
        raise exception.InvalidError("a billing cycle cannot be in the future")
    return start


def _breakdown(row: dict[str, Any], prices: dict[str, float]) -> dict[str, Decimal]:
    cpu = _dollars((row["cpu_s"] or 0.0) * prices.get("cpu", 0.0))
    memory = _dollars((row["memory_gib_s"] or 0.0) * prices.get("memory", 0.0))
    return {"cpu": cpu, "memory": memory,
            "gpu": max(Decimal(0), _dollars(row["cost"]) - cpu - memory)}


def _dollars(value: float | None) -> Decimal:
    return Decimal(str(round(value or 0.0, 10)))


async def _prices() -> dict[str, float]:
    return dict((await (await get_client()).request(protocol.BillingRates())).prices)


async def _usable_environments() -> list[str]:
    answer = await (await get_client()).request(protocol.EnvironmentList())
    return [e.name for e in answer.environments]


async def _workspace_billing_report(*, start: datetime, end: datetime | None = None,
                                    resolution: str = "d", tag_names: list[str] | None = None,
                                    client: Any = None) -> list[WorkspaceBillingReportItem]:
    use(client)
    items = await report(start=start, end=end, resolution=resolution, environments=None)
    return [{"object_id": i.object_id, "description": i.description,
             "environment_name": i.environment_name, "interval_start": i.interval_start,
             "cost": i.cost, "tags": {}} for i in items]


workspace_billing_report = aio_function(_workspace_billing_report)

__all__ = ["BillingReportItem", "WorkspaceBillingReportItem", "workspace_billing_report"]
