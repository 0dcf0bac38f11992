"""billing.workspace_billing_report from the control plane's metering, as Modal's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

import ketch
from ketch import exception

from apps import basic


def test_a_run_is_billed_to_its_app_in_the_day_and_hour_it_ran():
    with basic.app.run():
        basic.square.remote(3)
        app_id = basic.app.app_id
    start = datetime.now(UTC) - timedelta(days=1)
    end = datetime.now(UTC) + timedelta(days=1)
    days = ketch.billing.workspace_billing_report(start=start, end=end, resolution="d")
    mine = [item for item in days if item["object_id"] == app_id]
    assert len(mine) == 1 and mine[0]["description"] == basic.app.name
    assert isinstance(mine[0]["cost"], Decimal) and mine[0]["cost"] > 0
    assert mine[0]["interval_start"].tzinfo is not None
    assert mine[0]["interval_start"].hour == 0 and mine[0]["tags"] == {}
    hours = ketch.billing.workspace_billing_report(start=start.replace(tzinfo=None), end=end,
                                                   resolution="h")
    assert sum(i["cost"] for i in hours if i["object_id"] == app_id) == mine[0]["cost"]


def test_the_partial_last_interval_is_left_out_and_bad_input_named():
    now = datetime.now(UTC)
    assert ketch.billing.workspace_billing_report(start=now - timedelta(hours=1), end=now,
                                                  resolution="d") == []
    with pytest.raises(exception.InvalidError, match="resolution is 'd'"):
        ketch.billing.workspace_billing_report(start=now, resolution="w")
