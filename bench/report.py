"""The design's targets, checked against a run's medians, and the table that shows them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from images_bench import PULL, PULLED_COLD_START, SHARED_PULL
from rich.console import Console
from rich.table import Table
from systems import (
    COLD_START,
    CONTAINER_BURST,
    HEAVY_COLD_START,
    IMAGE_BUILD,
    IMAGE_CACHE_HIT,
    IMAGE_COLD_START,
    MAP,
    SNAPSHOT_COLD_START,
    VOLUME,
    WARM_CALL,
    WEB_BURST,
    WEB_COLD_START,
    WEB_RPS,
    System,
)

# results[measurement][system name] -> the medians over the repeats, or {"error": "..."}
Results = dict[str, dict[str, dict[str, Any]]]

MIN_MAP_RATE = 5000.0  # inputs/s on 2 cores
MAX_COLD_START_MS = 50.0  # an isolated container, forked from a zygote
MAX_SNAPSHOT_RATIO = 0.1  # m) of l): a snapshot saves nine tenths of a heavy module's start
MAX_IMAGE_COLD_START_MS = 50.0  # the design's figure, for an isolated container on an image
MAX_CACHE_HIT_MS = 50.0
MAX_BUILD_RATIO = 1.3  # of a plain uv venv + uv pip install
MIN_VOLUME_RATIO = 0.8  # of the same I/O on the host's disk, for writes and for reads
MIN_WEB_RATIO = 0.9  # requests/s through the gateway, of the same app on plain uvicorn
MAX_WEB_P99_RATIO = 1.5  # p99 latency through the gateway, of the same on plain uvicorn
MAX_WEB_COLD_RATIO = 0.5  # first request with no container, of spawning plain uvicorn
MIN_START_RATE = 50.0  # container starts/s in a burst, on 2 cores
MIN_PULL_RATIO = 0.9  # a registry pull's speed, of skopeo copy's to a dir: of the same image
MAX_PULLED_COLD_RATIO = 1.2  # a cold start on a pulled image, of one on debian_slim()


@dataclass(frozen=True)
class Row:
    measurement: str
    key: str
    title: str
    unit: str


WARM_P50 = Row(WARM_CALL, "p50_ms", "a) warm call, p50", "ms")
WARM_P99 = Row(WARM_CALL, "p99_ms", "a) warm call, p99", "ms")
MAP_RATE = Row(MAP, "inputs_per_s", "b) map throughput", "inputs/s")
COLD_P50 = Row(COLD_START, "p50_ms", "c) cold start, p50", "ms")
IMAGE_COLD_P50 = Row(IMAGE_COLD_START, "p50_ms", "d) image cold start, p50", "ms")
CACHE_HIT_P50 = Row(IMAGE_CACHE_HIT, "p50_ms", "e) image cache hit, p50", "ms")
BUILD_P50 = Row(IMAGE_BUILD, "p50_s", "f) image cold build, p50", "s")
VOLUME_WRITE = Row(VOLUME, "write_mb_s", "g) volume write", "MB/s")
VOLUME_READ = Row(VOLUME, "read_mb_s", "g) volume read", "MB/s")
WEB_RATE = Row(WEB_RPS, "requests_per_s", "h) web requests/s", "requests/s")
WEB_P99 = Row(WEB_RPS, "p99_ms", "h) web request latency, p99", "ms")
WEB_BURST_P50 = Row(WEB_BURST, "p50_s", "i) web burst from zero", "s")
WEB_COLD_P50 = Row(WEB_COLD_START, "p50_ms", "j) web first request, p50", "ms")
START_RATE = Row(CONTAINER_BURST, "starts_per_s", "k) container starts/s, burst", "starts/s")
HEAVY_COLD_P50 = Row(HEAVY_COLD_START, "p50_ms", "l) numpy+pandas cold start, p50", "ms")
SNAPSHOT_COLD_P50 = Row(SNAPSHOT_COLD_START, "p50_ms", "m) l) with snapshot, p50", "ms")
PULL_RATE = Row(PULL, "mb_s", "n) registry pull, speed", "MB/s")
PULL_SECONDS = Row(PULL, "seconds", "n) registry pull, time", "s")
SHARED_DOWNLOAD = Row(SHARED_PULL, "downloaded_mb", "o) pull sharing base layers, downloaded",
                      "MB")
PULLED_COLD_P50 = Row(PULLED_COLD_START, "p50_ms", "p) pulled-image cold start, p50", "ms")
ROWS = (WARM_P50, WARM_P99, MAP_RATE, COLD_P50, IMAGE_COLD_P50, CACHE_HIT_P50, BUILD_P50,
        VOLUME_WRITE, VOLUME_READ, WEB_RATE, WEB_P99, WEB_BURST_P50, WEB_COLD_P50, START_RATE,
        HEAVY_COLD_P50, SNAPSHOT_COLD_P50, PULL_RATE, PULL_SECONDS, SHARED_DOWNLOAD,
        PULLED_COLD_P50)


def figure(results: Results, row: Row, system: str) -> float | None:
    value = results.get(row.measurement, {}).get(system, {}).get(row.key)
    return float(value) if value is not None else None


def ratio(results: Results, row: Row, peer: str) -> float | None:
    ours, theirs = figure(results, row, "ketch"), figure(results, row, peer)
    if ours is None or not theirs:
        return None
    return ours / theirs


@dataclass(frozen=True)
class Target:
    row: Row
    text: str
    check: Callable[[Results], bool | None]  # None: a figure it needs is missing


def _warm_call_target(results: Results) -> bool | None:
    r = ratio(results, WARM_P50, "ray")
    return None if r is None else r <= 0.5


def _map_target(results: Results) -> bool | None:
    ours, r = figure(results, MAP_RATE, "ketch"), ratio(results, MAP_RATE, "ray")
    if ours is None:
        return None
    if r is None:  # without Ray only the absolute half can be judged, and failing it is final
        return None if ours >= MIN_MAP_RATE else False
    return r >= 3.0 and ours >= MIN_MAP_RATE


def _at_most(row: Row, limit: float) -> Callable[[Results], bool | None]:
    def check(results: Results) -> bool | None:
        ours = figure(results, row, "ketch")
        return None if ours is None else ours <= limit

    return check


def _at_least(row: Row, limit: float) -> Callable[[Results], bool | None]:
    def check(results: Results) -> bool | None:
        ours = figure(results, row, "ketch")
        return None if ours is None else ours >= limit

    return check


def _build_target(results: Results) -> bool | None:
    r = ratio(results, BUILD_P50, "uv")
    return None if r is None else r <= MAX_BUILD_RATIO


def _at_least_host(row: Row) -> Callable[[Results], bool | None]:
    def check(results: Results) -> bool | None:
        r = ratio(results, row, "host")
        return None if r is None else r >= MIN_VOLUME_RATIO

    return check


def _uvicorn_ratio(row: Row, low: float | None = None, high: float | None = None
                   ) -> Callable[[Results], bool | None]:
    def check(results: Results) -> bool | None:
        r = ratio(results, row, "uvicorn")
        if r is None:
            return None
        return (low is None or r >= low) and (high is None or r <= high)

    return check


def _snapshot_target(results: Results) -> bool | None:
    ours, without = (figure(results, row, "ketch") for row in (SNAPSHOT_COLD_P50, HEAVY_COLD_P50))
    if ours is None or without is None:
        return None
    return ours <= MAX_SNAPSHOT_RATIO * without


def _pull_target(results: Results) -> bool | None:
    r = ratio(results, PULL_RATE, "skopeo")
    return None if r is None else r >= MIN_PULL_RATIO


def _only_new_layer(results: Results) -> bool | None:
    met = results.get(SHARED_PULL, {}).get("ketch", {}).get("only_new_layer")
    return None if met is None else bool(met)


def _pulled_cold_target(results: Results) -> bool | None:
    r = ratio(results, PULLED_COLD_P50, "debian_slim")
    return None if r is None else r <= MAX_PULLED_COLD_RATIO


def _no_failed_answers(results: Results) -> bool | None:
    failures = results.get(WEB_BURST, {}).get("ketch", {}).get("failures")
    return None if failures is None else failures == 0


TARGETS = (
    Target(WARM_P50, "≤ 0.5× Ray", _warm_call_target),
    Target(MAP_RATE, f"≥ 3× Ray, ≥ {MIN_MAP_RATE:,.0f}/s", _map_target),
    Target(COLD_P50, f"≤ {MAX_COLD_START_MS:.0f} ms", _at_most(COLD_P50, MAX_COLD_START_MS)),
    Target(IMAGE_COLD_P50, f"≤ {MAX_IMAGE_COLD_START_MS:.0f} ms",
           _at_most(IMAGE_COLD_P50, MAX_IMAGE_COLD_START_MS)),
    Target(CACHE_HIT_P50, f"≤ {MAX_CACHE_HIT_MS:.0f} ms",
           _at_most(CACHE_HIT_P50, MAX_CACHE_HIT_MS)),
    Target(BUILD_P50, f"≤ {MAX_BUILD_RATIO}× uv", _build_target),
    Target(VOLUME_WRITE, f"≥ {MIN_VOLUME_RATIO}× host", _at_least_host(VOLUME_WRITE)),
    Target(VOLUME_READ, f"≥ {MIN_VOLUME_RATIO}× host", _at_least_host(VOLUME_READ)),
    Target(WEB_RATE, f"≥ {MIN_WEB_RATIO}× uvicorn", _uvicorn_ratio(WEB_RATE, low=MIN_WEB_RATIO)),
    Target(WEB_P99, f"≤ {MAX_WEB_P99_RATIO}× uvicorn",
           _uvicorn_ratio(WEB_P99, high=MAX_WEB_P99_RATIO)),
    Target(WEB_BURST_P50, "no non-200 answer", _no_failed_answers),
    Target(WEB_COLD_P50, f"≤ {MAX_WEB_COLD_RATIO}× uvicorn",
           _uvicorn_ratio(WEB_COLD_P50, high=MAX_WEB_COLD_RATIO)),
    Target(START_RATE, f"≥ {MIN_START_RATE:.0f}/s", _at_least(START_RATE, MIN_START_RATE)),
    Target(SNAPSHOT_COLD_P50, f"≤ {MAX_SNAPSHOT_RATIO:g}× l)", _snapshot_target),
    Target(PULL_RATE, f"≥ {MIN_PULL_RATIO}× skopeo", _pull_target),
    Target(SHARED_DOWNLOAD, "the new layer only", _only_new_layer),
    Target(PULLED_COLD_P50, f"≤ {MAX_PULLED_COLD_RATIO}× debian_slim()", _pulled_cold_target),
)


def verdicts(results: Results) -> dict[str, dict[str, Any]]:
    """For the JSON: each target's text and whether it was met (None: could not be judged)."""
    return {t.row.title: {"target": t.text, "met": t.check(results)}
            for t in TARGETS if t.row.measurement in results}


def _cell(results: Results, row: Row, system: str) -> str:
    if "error" in results.get(row.measurement, {}).get(system, {}):
        return "[red]error[/red]"
    return _format_figure(figure(results, row, system), row.unit)


def _format_figure(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("inputs/s", "requests/s"):
        return f"{value:,.0f}/s"
    if unit == "starts/s":
        return f"{value:,.1f}/s"
    if unit == "MB/s":
        return f"{value:,.0f} MB/s"
    if unit == "MB":
        return f"{value:,.2f} MB"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"


def _format_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}×"


def _format_verdict(met: bool | None) -> str:
    return {True: "[green]met[/green]", False: "[red]missed[/red]", None: "n/a"}[met]


def table(results: Results, peers: Sequence[System], title: str) -> Table:
    out = Table(title=title, title_justify="left")
    out.add_column("measurement")
    out.add_column("ketch", justify="right")
    for peer in peers:
        out.add_column(peer.label, justify="right")
        out.add_column(f"ketch/{peer.label}", justify="right")
    out.add_column("target")
    out.add_column("verdict")
    targets = {t.row: t for t in TARGETS}
    for row in ROWS:
        if row.measurement not in results:
            continue
        cells = [row.title, _cell(results, row, "ketch")]
        for peer in peers:
            applies = row.measurement in peer.measures
            cells.append(_cell(results, row, peer.name) if applies else "")
            cells.append(_format_ratio(ratio(results, row, peer.name)) if applies else "")
        target = targets.get(row)
        cells += [target.text, _format_verdict(target.check(results))] if target else ["", ""]
        out.add_row(*cells)
    return out


def console() -> Console:
    # Rich wraps at 80 columns when writing to a pipe or file; the table needs more than that
    # (about 190 with every peer).
    return Console(width=None if sys.stdout.isatty() else 200)
