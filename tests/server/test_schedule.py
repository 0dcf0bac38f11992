"""Schedules fire on running apps; a bad schedule fails at decoration."""

from __future__ import annotations

import time

import pytest
from embedded import control_plane

import ketch
from ketch import exception

from apps import scheduled


def test_a_period_schedule_fires_on_time(capsys):
    scheduled.ticks.clear()
    with ketch.enable_output(), scheduled.app.run():
        time.sleep(3.6)
        rows = control_plane().store.fetchall(
            "SELECT created FROM calls WHERE function_id=? ORDER BY created",
            (scheduled.tick.object_id,))
    assert len(list(scheduled.ticks.keys())) >= 2  # the runs happened
    fired = [created for (created,) in rows]  # when the schedule fired, not when runs began
    gaps = [b - a for a, b in zip(fired, fired[1:])]
    assert len(fired) >= 2 and all(0.5 <= gap <= 2.0 for gap in gaps), gaps
    assert "schedule fired tick" in capsys.readouterr().err


def test_bad_schedules_fail_at_decoration():
    with pytest.raises(exception.InvalidError, match="five fields"):
        ketch.Cron("* * *")
    with pytest.raises(exception.InvalidError, match="not a valid cron"):
        ketch.Cron("61 * * * *")
    with pytest.raises(exception.InvalidError, match="unknown timezone"):
        ketch.Cron("0 9 * * *", timezone="Mars/Olympus")
    with pytest.raises(exception.InvalidError, match="schedule must be"):
        ketch.App("x").function(schedule="hourly")


def test_cron_next_firing_honours_the_timezone():
    import datetime as dt

    cron = ketch.Cron("0 9 * * *", timezone="America/New_York")
    after = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)
    assert cron.next_after(after) == dt.datetime(2026, 1, 15, 14, 0, tzinfo=dt.UTC)
