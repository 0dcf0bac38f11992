"""``GET /metrics`` of a real ``ketch server``: Prometheus' text, with the figures of its calls."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

CALLS = """
from apps import dashboarded
with dashboarded.app.run():
    for name in ("ada", "grace", "alan"):
        dashboarded.greet.remote(name)
    try:
        dashboarded.explode.remote("kaboom")
    except RuntimeError:
        pass
"""


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels) -> float:
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= ls)


def test_metrics_count_inputs_containers_and_usage(server):
    server.client(CALLS)
    dashboard = json.loads((server.home / "server.json").read_text())["dashboard"]
    with urllib.request.urlopen(f"{dashboard}/metrics", timeout=10) as answer:  # loopback
        assert answer.headers["content-type"].startswith("text/plain")
        found = samples(answer.read().decode())
    fn = {"app": "dashboarded"}
    assert value(found, "ketch_inputs_done_total", function="greet", **fn) == 3
    assert value(found, "ketch_inputs_failed_total", function="explode", reason="error",
                 **fn) == 1
    assert value(found, "ketch_inputs_queued", function="greet", **fn) == 0
    assert value(found, "ketch_container_starts_total", **fn) >= 2
    assert value(found, "ketch_cold_start_seconds_count", **fn) >= 2
    assert value(found, "ketch_cold_start_seconds_sum", **fn) > 0
    assert ("ketch_cpu_core_seconds_total", frozenset({("app", "dashboarded"),
                                                        ("function", "greet")})) in found


def test_metrics_refuse_a_wrong_token(server):
    dashboard = json.loads((server.home / "server.json").read_text())["dashboard"]
    request = urllib.request.Request(f"{dashboard}/metrics",
                                     headers={"Authorization": "Bearer ak-nope:as-nope"})
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a wrong token read /metrics")
    except urllib.error.HTTPError as refused:
        assert refused.code == 401
    token = json.loads((server.home / "token.json").read_text())
    request = urllib.request.Request(
        f"{dashboard}/metrics",
        headers={"Authorization": f"Bearer {token['token_id']}:{token['token_secret']}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200 and b"ketch_inputs_done" in answer.read()
