"""Schedules for functions: ``schedule=ketch.Cron("0 9 * * 1-5")`` or ``ketch.Period(hours=1)``.

Example::

    @app.function(schedule=ketch.Cron("*/5 * * * *", timezone="Europe/Paris"))
    def poll():
        ...

A bad cron string or timezone fails here, when the decorator runs. `next_after` is what the
control plane's scheduler asks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import exception


class Schedule:
    def next_after(self, when: dt.datetime) -> dt.datetime:
        """The first firing strictly after ``when`` (an aware datetime)."""
        raise NotImplementedError

    def to_wire(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def from_wire(data: dict[str, Any]) -> Schedule:
        if data["kind"] == "cron":
            return Cron(data["cron_string"], timezone=data["timezone"])
        return Period(seconds=data["seconds"])


class Cron(Schedule):
    """Fire on a cron schedule (five fields), in ``timezone`` (UTC by default)."""

    def __init__(self, cron_string: str, timezone: str = "UTC") -> None:
        from croniter import croniter

        if not isinstance(cron_string, str) or len(cron_string.split()) != 5:
            raise exception.InvalidError(
                f"{cron_string!r} is not a cron schedule: give five fields, minute hour "
                "day-of-month month day-of-week, as in '0 9 * * 1-5'"
            )
        if not croniter.is_valid(cron_string):
            raise exception.InvalidError(f"{cron_string!r} is not a valid cron schedule")
        try:
            self._zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise exception.InvalidError(
                f"unknown timezone {timezone!r}: use an IANA name such as 'America/New_York'"
            ) from None
        self.cron_string = cron_string
        self.timezone = timezone

    def next_after(self, when: dt.datetime) -> dt.datetime:
        from croniter import croniter

        local = when.astimezone(self._zone)
        nxt: dt.datetime = croniter(self.cron_string, local).get_next(dt.datetime)
        return nxt.astimezone(dt.UTC)

    def to_wire(self) -> dict[str, Any]:
        return {"kind": "cron", "cron_string": self.cron_string, "timezone": self.timezone}

    def __repr__(self) -> str:
        return f"Cron({self.cron_string!r}, timezone={self.timezone!r})"


class Period(Schedule):
    """Fire every so often, counting from when the app was deployed (or started)."""

    def __init__(self, *, years: int = 0, months: int = 0, weeks: float = 0, days: float = 0,
                 hours: float = 0, minutes: float = 0, seconds: float = 0) -> None:
        if years or months:
            raise exception.InvalidError(
                "Period(years=, months=) is not supported: months differ in length; use "
                "ketch.Cron for calendar schedules (e.g. Cron('0 0 1 * *') for monthly)"
            )
        total = dt.timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes,
                             seconds=seconds).total_seconds()
        if total <= 0:
            raise exception.InvalidError("a Period must be longer than zero")
        self.seconds = total

    def next_after(self, when: dt.datetime) -> dt.datetime:
        return when + dt.timedelta(seconds=self.seconds)

    def to_wire(self) -> dict[str, Any]:
        return {"kind": "period", "seconds": self.seconds}

    def __repr__(self) -> str:
        return f"Period(seconds={self.seconds:g})"
