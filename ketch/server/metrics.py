"""The control plane's Prometheus metrics, served as ``GET /metrics`` by the dashboard.

Events the control plane sees once (a container asked for, a container's first hello, a
gateway request) are counted as they happen, with a line at each place. Everything that is
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
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..protocol.container import Status

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import FunctionState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
COLD_START_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)


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
        self._latency = Histogram("ketch_gateway_request_seconds",
                                  "From a request's arrival at the gateway to its last byte.",
                                  ("endpoint",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(control_plane))

    def container_started(self, fn: FunctionState) -> None:
        self._starts.labels(*self._names(fn)).inc()

    def container_ready(self, fn: FunctionState, seconds: float) -> None:
        self._cold.labels(*self._names(fn)).observe(seconds)

    def gateway(self, app: Any) -> Any:
        """``app`` (the gateway's ASGI callable) counting and timing each request."""
        requests, latency = self._requests, self._latency

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
                    label = scope["path"].lstrip("/").partition("/")[0] if code != "404" else ""
                    requests.labels(label, code).inc()
                    latency.labels(label).observe(time.monotonic() - started)

        return counted

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _names(self, fn: FunctionState) -> tuple[str, str]:
        return self.cp.state.apps[fn.app_id].name, fn.name


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
