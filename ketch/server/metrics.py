"""The control plane's Prometheus metrics, served as ``GET /metrics`` by the dashboard.

Events the control plane sees once (a container asked for, a container's first hello, a
gateway request) are counted as they happen, with a line at each place; the requests that
containers answer on connections the gateway handed them come in their reports, already
counted by status and latency bucket (`gateway_tally`). Everything that is
already counted elsewhere is read when Prometheus scrapes, so the data path pays nothing more:
inputs queued and running and containers by state from the functions' own queues, inputs done
and failed from `CallHistory`'s totals, core-, GiB- and GPU-seconds from the metered usage in
the store (the figures ``ketch usage`` shows). Each control plane has its own registry, so
several in one process (tests) do not clash.

Example::

    metrics = Metrics(control_plane)
    metrics.container_started(fn)
    text = metrics.render()  # Prometheus text format
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from ..protocol.container import Status
from ..protocol.handoff import LATENCY_BUCKETS, Tally, route

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import FunctionState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COLD_START_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.registry = CollectorRegistry(auto_describe=True)
        fn_labels = ("app", "function")
        self._starts = Counter("ketch_container_starts", "Containers asked of the worker.",
                               fn_labels, registry=self.registry)
        self._cold = Histogram("ketch_cold_start_seconds",
                               "From asking for a container to its agent's hello.", fn_labels,
                               buckets=COLD_START_BUCKETS, registry=self.registry)
        self._requests = Counter("ketch_gateway_requests", "Requests the web gateway answered.",
                                 ("endpoint", "code"), registry=self.registry)
        self._latency = _Latency()
        self.registry.register(self._latency)
        self.registry.register(_StateCollector(control_plane))

    def container_started(self, fn: FunctionState) -> None:
        self._starts.labels(*self._names(fn)).inc()

    def container_ready(self, fn: FunctionState, seconds: float) -> None:
        self._cold.labels(*self._names(fn)).observe(seconds)

    def gateway_request(self, endpoint: str, code: int, seconds: float) -> None:
        """A request the gateway answered (an unknown label: endpoint "")."""
        self._requests.labels(endpoint, str(code)).inc()
        self._latency.observe(endpoint, seconds)

    def gateway_tally(self, endpoint: str, tally: Tally) -> None:
        """Requests a container answered on handed connections."""
        for code, count in tally.codes.items():
            self._requests.labels(endpoint, str(code)).inc(count)
        self._latency.add(endpoint, tally.buckets, tally.seconds)

    def gateway(self, app: Any) -> Any:
        """``app`` (the gateway's ASGI callable) counting and timing each request."""

        async def counted(scope: dict[str, Any], receive: Any, send: Any) -> None:
            started = time.monotonic()
            code = "500"

            async def sending(message: dict[str, Any]) -> None:
                nonlocal code
                if message["type"] == "http.response.start":
                    code = str(message["status"])
                await send(message)

            try:
                await app(scope, receive, sending)
            finally:
                if scope["type"] == "http":
                    # an unknown label is one series, not one per path a scanner tries
                    label = route(_host(scope), scope.get("raw_path") or b"",
                                  self.cp.gateway.settings.domain)[0] if code != "404" else ""
                    self.gateway_request(label, int(code), time.monotonic() - started)

        return counted

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _names(self, fn: FunctionState) -> tuple[str, str]:
        return self.cp.state.apps[fn.app_id].name, fn.name


def _host(scope: dict[str, Any]) -> str:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")


class _Latency:
    """The gateway's request latency histogram, per endpoint, from the gateway's own requests
    and from containers' reports alike."""

    def __init__(self) -> None:
        self._counts: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}

    def observe(self, endpoint: str, seconds: float) -> None:
        counts = self._counts.setdefault(endpoint, [0] * (len(LATENCY_BUCKETS) + 1))
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._sums[endpoint] = self._sums.get(endpoint, 0.0) + seconds

    def add(self, endpoint: str, buckets: list[int], seconds: float) -> None:
        counts = self._counts.setdefault(endpoint, [0] * (len(LATENCY_BUCKETS) + 1))
        for i, n in enumerate(buckets[:len(counts)]):
            counts[i] += int(n)
        self._sums[endpoint] = self._sums.get(endpoint, 0.0) + float(seconds)

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "ketch_gateway_request_seconds",
            "From a request's arrival at the gateway (or, on a connection handed to a "
            "container, at the container) to its last byte.", labels=["endpoint"])
        bounds = [str(b) for b in LATENCY_BUCKETS] + ["+Inf"]
        for endpoint, counts in list(self._counts.items()):
            running, cumulative = 0, []
            for bound, n in zip(bounds, counts):
                running += n
                cumulative.append((bound, running))
            family.add_metric([endpoint], cumulative, self._sums[endpoint])
        yield family


class _StateCollector:
    """What the control plane knows at the moment of the scrape."""

    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane

    def describe(self) -> list[Metric]:
        return []  # its series change with the apps: collected afresh at each scrape

    def collect(self) -> Iterator[Metric]:
        cp = self.cp
        labels = ["app", "function"]
        queued = GaugeMetricFamily("ketch_inputs_queued", "Inputs waiting for a container.",
                                   labels=labels)
        running = GaugeMetricFamily("ketch_inputs_running", "Inputs held by containers.",
                                    labels=labels)
        done = CounterMetricFamily("ketch_inputs_done", "Inputs that returned.", labels=labels)
        failed = CounterMetricFamily("ketch_inputs_failed",
                                     "Inputs that failed (raised, timed out or their container "
                                     "died), after their retries.", labels=[*labels, "reason"])
        containers = GaugeMetricFamily("ketch_containers", "Containers by state.",
                                       labels=[*labels, "state"])
        sums: dict[tuple[str, str], list[float]] = {}
        failures: dict[tuple[str, str, str], int] = {}
        for fn in list(cp.state.functions.values()):
            app = cp.state.apps.get(fn.app_id)
            if app is None:
                continue
            key = (app.name, fn.name)
            row = sums.setdefault(key, [0.0] * 6)
            row[0] += len(fn.pending) + len(fn.delayed) + fn.web_waiting
            for ct in fn.containers.values():
                row[1] += len(ct.assigned) + ct.web_active
                row[2 if ct.stopping else 3 if ct.peer is not None else 4] += 1
            totals: Mapping[str, int] = cp.history.totals.get(fn.id) or {}
            row[5] += totals.get(Status.OK, 0) + totals.get(Status.GEN_DONE, 0)
            for reason in Status.FAILURES:
                if totals.get(reason):
                    failures[(*key, reason)] = failures.get((*key, reason), 0) + totals[reason]
        for key, row in sums.items():
            names = list(key)
            queued.add_metric(names, row[0])
            running.add_metric(names, row[1])
            for state, value in (("stopping", row[2]), ("ready", row[3]), ("starting", row[4])):
                containers.add_metric([*names, state], value)
            done.add_metric(names, row[5])
        for (app_name, fn_name, reason), value in failures.items():
            failed.add_metric([app_name, fn_name, reason], value)
        yield from (queued, running, done, failed, containers)
        yield from self._usage()

    def _usage(self) -> Iterator[Metric]:
        self.cp.meter.flush()
        rows = self.cp.store.fetchall(
            "SELECT app_name, function_name, gpu_type, SUM(cpu_s), SUM(memory_gib_s), "
            "SUM(gpu_s) FROM usage GROUP BY app_name, function_name, gpu_type")
        cpu = CounterMetricFamily("ketch_cpu_core_seconds", "CPU core-seconds metered.",
                                  labels=["app", "function"])
        memory = CounterMetricFamily("ketch_memory_gib_seconds", "Memory GiB-seconds metered.",
                                     labels=["app", "function"])
        gpu = CounterMetricFamily("ketch_gpu_seconds", "GPU-seconds metered.",
                                  labels=["app", "function", "gpu_type"])
        by_function: dict[tuple[str, str], list[float]] = {}
        for app, function, gpu_type, cpu_s, memory_s, gpu_s in rows:
            pair = by_function.setdefault((app, function), [0.0, 0.0])
            pair[0] += cpu_s or 0.0
            pair[1] += memory_s or 0.0
            if gpu_type:
                gpu.add_metric([app, function, gpu_type], gpu_s or 0.0)
        for (app, function), (cpu_s, memory_s) in by_function.items():
            cpu.add_metric([app, function], cpu_s)
            memory.add_metric([app, function], memory_s)
        yield from (cpu, memory, gpu)
