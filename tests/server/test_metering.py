"""Usage is metered from cgroup accounting and priced as Modal prices it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ketch
from ketch import config
from ketch.backends.namespace import NamespaceDriver
from ketch.protocol.worker import UsageSample
from ketch.server.dispatch import ContainerState, PendingInput
from ketch.server.pricing import DEFAULT_PRICES, bill

from apps import metered

needs_namespaces = pytest.mark.skipif(
    NamespaceDriver(config.home() / "containers", masks=[]).fingerprint() is not None,
    reason="needs the namespace runtime (root on Linux)",
)


def test_bill_takes_the_larger_of_reservation_and_use():
    sample = UsageSample(seconds=2.0, cpu_s=0.1, memory_bytes=2**30, gpus={"H100": 1})
    billed = bill(sample, cpu_request=1.0, memory_request_mib=512, table=DEFAULT_PRICES)
    assert billed.cpu_s == 2.0  # reserved 1 core for 2 s, used only 0.1
    assert billed.memory_gib_s == 2.0  # used 1 GiB, above the 0.5 GiB reserved
    assert billed.gpu_s == {"H100": 2.0}
    expected = 2.0 * DEFAULT_PRICES["cpu"] + 2.0 * DEFAULT_PRICES["memory"] + 2.0 * 0.001097
    assert billed.cost == pytest.approx(expected)


def test_a_sample_bills_the_calls_a_container_answered_since_the_last_one():
    ct = ContainerState("ct-1", "fu-1", "token")
    ct.assigned[("fc-running", 0)] = PendingInput("fc-running", 0, None, b"", None)
    ct.answered.add("fc-ended")  # its output came between two samples
    assert ct.calls_since_sample() == ["fc-ended", "fc-running"]
    assert ct.calls_since_sample() == ["fc-running"]  # the next sample: ended ones are done


@needs_namespaces
def test_burning_one_core_for_two_seconds_bills_about_two_core_seconds():
    with metered.app.run():
        app_id = metered.app.app_id
        assert metered.burn_core.remote(2.0) == 2.0
    totals = ketch.usage.summary(app_id)
    assert 1.9 <= totals["cpu_s"] <= 2.6
    rows = ketch.usage.query(by="function", app_id=app_id)
    assert [row["group"] for row in rows] == ["metered.burn_core"]
    calls = ketch.usage.query(by="call", app_id=app_id)
    assert any(row["group"].startswith("fc-") and row["cpu_s"] >= 1.8 for row in calls)
    cost = totals["cpu_s"] * DEFAULT_PRICES["cpu"] + totals["memory_gib_s"] * DEFAULT_PRICES["memory"]
    assert totals["cost"] == pytest.approx(cost)


def test_gpu_seconds_are_metered_by_type():
    with metered.app.run():
        app_id = metered.app.app_id
        metered.gpu_nap.remote(1.0)
    rows = ketch.usage.query(by="app", app_id=app_id)
    assert rows[0]["gpu_types"] == "A10"
    assert rows[0]["gpu_s"] >= 1.0


def test_ketch_usage_cli_prints_json_and_csv(tests_dir):
    for flag in ("--json", "--csv"):
        result = subprocess.run([sys.executable, "-m", "ketch.cli", "usage", "--by", "day", flag],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    bad = subprocess.run([sys.executable, "-m", "ketch.cli", "usage", "--since", "yesterday"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "use a date" in bad.stderr
