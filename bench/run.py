"""Benchmark ketch against a local Ray and `multiprocessing.Pool`, side by side in one run.

    python bench/run.py                    # all measurements, medians of 3 repeats
    python bench/run.py --only a,b --skip-ray --repeat 5 --json /tmp/bench.json

Measurements (the design's targets table, docs in bench/README.md):
  a) warm no-op round trip, p50 and p99      b) .map over 10,000 no-op inputs, inputs/s
  c) cold start: time to the first result of a function with nothing running
  d) c) in the namespace runtime, on a cached image
  e) image cache hit: building an image whose layers are all built
  f) cold image build, against a plain `uv venv` and `uv pip install` of the same packages
  g) write and read throughput on a volume in a container, against the host's disk directly
  h) requests/s and p99 latency through the HTTP gateway to a warm container, against the app
     on plain uvicorn
  i) a burst of 200 requests at a web endpoint with no container: the time to the last answer
  j) the first request to a web endpoint with no container, against starting plain uvicorn
  k) container starts per second in a burst of 100 sleeping inputs mapped at once
  l) c) for a function whose module imports numpy and pandas, against `python -c "import ..."`
  m) l) with enable_memory_snapshot=True: containers forked from a zygote that imported them
  n) pulling a 300 MB image from a local registry, against skopeo copy (bench/images_bench.py)
  o) pulling an image that shares all but one layer with one pulled before: the bytes downloaded
  p) d) on an image pulled from the registry, against the same on Image.debian_slim()

The systems are measured one after another, never at the same time, so that none of them
competes with another's background processes for the two cores.
"""

from __future__ import annotations

import argparse
import atexit
import datetime
import faulthandler
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # `workloads` must import by that name, here and in containers

import images_bench  # noqa: E402
import report  # noqa: E402
import systems  # noqa: E402
import workloads  # noqa: E402
from stats import median, ms, percentile  # noqa: E402
from systems import (  # noqa: E402
    COLD_START,
    CONTAINER_BURST,
    HEAVY,
    HEAVY_COLD_START,
    HEAVY_PACKAGES,
    IMAGE_BUILD,
    IMAGE_CACHE_HIT,
    IMAGE_COLD_START,
    MAP,
    NEEDS_NAMESPACE,
    SNAPSHOT_COLD_START,
    VOLUME,
    WARM_CALL,
    WEB_BURST,
    WEB_COLD_START,
    WEB_RPS,
    Sample,
    System,
    namespace_problem,
)

ALL = (WARM_CALL, MAP, COLD_START, IMAGE_COLD_START, IMAGE_CACHE_HIT, IMAGE_BUILD, VOLUME,
       WEB_RPS, WEB_BURST, WEB_COLD_START, CONTAINER_BURST, HEAVY_COLD_START, SNAPSHOT_COLD_START,
       *images_bench.MEASUREMENTS)
# In the table: the peer of a target first.
PEER_ORDER = ("ray", "multiprocessing", "subprocess", "uv", "host", "uvicorn", "skopeo",
              "skopeo_tar", "debian_slim")
COLD_PAUSE_S = 0.1  # lets the last sample's process finish exiting before the next starts
BURST_PAUSE_S = 0.5  # the same for i)'s up to 10 containers
CONTAINER_BURST_PAUSE_S = 1.0  # the same for k)'s up to 100 containers
# Measured in rounds of one sample per system (see `alternating`), not one system after another:
# f)'s samples take seconds each, so a change in the machine's load would fall on one side.
IN_ROUNDS = (IMAGE_BUILD,)


@dataclass(frozen=True)
class Sampled:
    """A measurement made of separate samples, each one call of ``take``; the first call is
    thrown away (it pays for the page cache, the control plane's start, building layers)."""

    take: Callable[[System, argparse.Namespace], Sample]
    count: str  # the option holding the number of samples per repeat
    unit: str = "ms"  # the samples' unit in the results: "ms" or "s"
    pause_s: float = 0.0  # between samples


SAMPLED = {
    COLD_START: Sampled(lambda s, a: s.cold_start(), "cold_samples", pause_s=COLD_PAUSE_S),
    IMAGE_COLD_START: Sampled(lambda s, a: s.image_cold_start(), "cold_samples",
                              pause_s=COLD_PAUSE_S),
    IMAGE_CACHE_HIT: Sampled(lambda s, a: s.image_cache_hit(), "cache_samples"),
    IMAGE_BUILD: Sampled(lambda s, a: s.image_build(), "build_samples", unit="s"),
    WEB_BURST: Sampled(lambda s, a: s.web_burst(a.burst_requests), "burst_samples", unit="s",
                       pause_s=BURST_PAUSE_S),
    WEB_COLD_START: Sampled(lambda s, a: s.web_cold_start(), "web_cold_samples",
                            pause_s=COLD_PAUSE_S),
    HEAVY_COLD_START: Sampled(lambda s, a: s.heavy_cold_start(), "heavy_samples",
                              pause_s=COLD_PAUSE_S),
    SNAPSHOT_COLD_START: Sampled(lambda s, a: s.snapshot_cold_start(), "heavy_samples",
                                 pause_s=COLD_PAUSE_S),
}
SUMMARY_KEYS = {WARM_CALL: ("p50_ms", "p99_ms"), MAP: ("inputs_per_s",),
                **{m: (f"p50_{spec.unit}",) for m, spec in SAMPLED.items()},
                VOLUME: ("write_mb_s", "read_mb_s"), WEB_RPS: ("requests_per_s", "p99_ms"),
                CONTAINER_BURST: ("starts_per_s", "containers", "cpu_ms_per_start")}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="repeats of each measurement (default 3)")
    parser.add_argument("--only", type=_measurements, default=ALL, metavar="a,b,...",
                        help="which measurements to run (default all)")
    parser.add_argument("--skip-ray", action="store_true", help="leave Ray out")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results" / "latest.json",
                        help="where to write the raw numbers (default bench/results/latest.json)")
    parser.add_argument("--warmup", type=int, default=50,
                        help="a) untimed calls first (default 50)")
    parser.add_argument("--calls", type=int, default=500, help="a) timed calls (default 500)")
    parser.add_argument("--map-inputs", type=int, default=10_000, help="b) inputs (default 10,000)")
    parser.add_argument("--cold-samples", type=int, default=10,
                        help="c), d) cold starts per repeat (default 10)")
    parser.add_argument("--cache-samples", type=int, default=20,
                        help="e) cache hits per repeat (default 20)")
    parser.add_argument("--build-samples", type=int, default=3,
                        help="f) cold builds per repeat (default 3)")
    parser.add_argument("--volume-mib", type=int, default=256,
                        help="g) MiB written and read per sample (default 256)")
    parser.add_argument("--volume-samples", type=int, default=3,
                        help="g) samples per repeat (default 3)")
    parser.add_argument("--web-requests", type=int, default=10_000,
                        help="h) timed requests per repeat (default 10,000)")
    parser.add_argument("--web-concurrency", type=int, default=32,
                        help="h) keep-alive connections the requests go over (default 32)")
    parser.add_argument("--burst-requests", type=int, default=200,
                        help="i) requests fired at once (default 200)")
    parser.add_argument("--burst-samples", type=int, default=1,
                        help="i) bursts per repeat (default 1)")
    parser.add_argument("--web-cold-samples", type=int, default=5,
                        help="j) first requests per repeat (default 5)")
    parser.add_argument("--heavy-samples", type=int, default=5,
                        help="l) cold starts per repeat (default 5)")
    parser.add_argument("--pull-samples", type=int, default=2,
                        help="n) rounds of pulls (skopeo, ketch, skopeo+tar) per repeat "
                             "(default 2)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="dump every thread's stack and exit after this many seconds, so a "
                             "hang is reported instead of waited on (default 600)")
    args = parser.parse_args(argv)
    counts = ("repeat", "calls", "map_inputs", "cold_samples", "cache_samples", "build_samples",
              "volume_mib", "volume_samples", "web_requests", "web_concurrency", "burst_requests",
              "burst_samples", "web_cold_samples", "heavy_samples", "pull_samples")
    if min(getattr(args, name) for name in counts) < 1:
        parser.error(", ".join(f"--{name.replace('_', '-')}" for name in counts)
                     + " must be at least 1")
    return args


def _measurements(text: str) -> tuple[str, ...]:
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(ALL)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"expected some of {','.join(ALL)}, not {text!r}")
    return tuple(m for m in ALL if m in chosen)


# -- one measurement, one repeat -----------------------------------------------------------------


def warm_call(system: System, args: argparse.Namespace) -> dict[str, Any]:
    for _ in range(args.warmup):
        system.call()
    samples = []
    for _ in range(args.calls):
        start = time.perf_counter()
        system.call()
        samples.append(time.perf_counter() - start)
    return {"p50_ms": ms(percentile(samples, 50)), "p99_ms": ms(percentile(samples, 99)),
            "samples_ms": [ms(s) for s in samples]}


def map_throughput(system: System, args: argparse.Namespace) -> dict[str, Any]:
    # A small map first, so that every system has its workers up before the clock starts.
    system.map(max(1, args.map_inputs // 10))
    start = time.perf_counter()
    received = system.map(args.map_inputs)
    elapsed = time.perf_counter() - start
    if received != args.map_inputs:
        raise RuntimeError(
            f"{system.name} returned {received} results for {args.map_inputs} inputs"
        )
    return {"inputs": received, "seconds": round(elapsed, 4),
            "inputs_per_s": round(received / elapsed, 1)}


def sampled(measurement: str) -> Callable[[System, argparse.Namespace], dict[str, Any]]:
    spec = SAMPLED[measurement]

    def measure(system: System, args: argparse.Namespace) -> dict[str, Any]:
        taken = []
        for _ in range(getattr(args, spec.count)):
            taken.append(spec.take(system, args))
            time.sleep(spec.pause_s)
        return sampled_run(spec, taken)

    return measure


def sampled_run(spec: Sampled, taken: list[Sample]) -> dict[str, Any]:
    """One repeat's figure of a `Sampled` measurement: the median and every sample."""
    scale: Callable[[float], float] = ms if spec.unit == "ms" else lambda s: round(s, 4)
    run: dict[str, Any] = {
        f"p50_{spec.unit}": scale(percentile([s.seconds for s in taken], 50)),
        f"samples_{spec.unit}": [scale(s.seconds) for s in taken],
    }
    if any(s.setup_s for s in taken):
        run["setup_ms"] = [ms(s.setup_s) for s in taken]
    if any(s.failures is not None for s in taken):
        run["failures"] = sum(s.failures or 0 for s in taken)
    return run


def alternating(measurement: str, chosen: list[System],
                args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """A `Sampled` measurement of every system that makes it, in rounds of one sample each,
    each system first in turn; the first round is thrown away (see `Sampled`). A system whose
    sample fails has the failure recorded and leaves the rounds."""
    spec = SAMPLED[measurement]
    sides = [s for s in chosen if measurement in s.measures]
    if not sides:
        return {}
    outcomes: dict[str, dict[str, Any]] = {}
    taken: dict[str, list[Sample]] = {s.name: [] for s in sides}
    samples = getattr(args, spec.count)
    for number in range(1 + args.repeat * samples):
        shift = number % len(sides)
        for system in sides[shift:] + sides[:shift]:
            if system.name in outcomes:
                continue
            try:
                sample = spec.take(system, args)
            except Exception:  # recorded, as in bench_system
                outcomes[system.name] = failure(system, measurement)
                continue
            if number:
                taken[system.name].append(sample)
            time.sleep(spec.pause_s)
        if number and number % samples == 0:  # a repeat done
            print(f"[rounds] {measurement}) {number // samples}/{args.repeat}: p50 " + ", ".join(
                f"{name} {percentile([s.seconds for s in t[-samples:]], 50):.3f} s"
                for name, t in taken.items() if name not in outcomes), file=sys.stderr, flush=True)
    for name, all_taken in taken.items():
        if name not in outcomes:
            runs = [sampled_run(spec, all_taken[i:i + samples])
                    for i in range(0, len(all_taken), samples)]
            outcomes[name] = summarize(measurement, runs)
    return outcomes


def volume_throughput(system: System, args: argparse.Namespace) -> dict[str, Any]:
    """g) The median MB/s (10^6 bytes) of the samples' writes and of their reads."""
    taken = [system.volume_io(args.volume_mib) for _ in range(args.volume_samples)]
    return {"write_mb_s": round(median([s.write_mb_s for s in taken]), 1),
            "read_mb_s": round(median([s.read_mb_s for s in taken]), 1),
            "write_s": [round(s.write_s, 4) for s in taken],
            "read_s": [round(s.read_s, 4) for s in taken]}


def web_throughput(system: System, args: argparse.Namespace) -> dict[str, Any]:
    """h) loadgen.py's requests/s over keep-alive connections, after a tenth as many untimed
    requests (over connections of their own), as b) warms up with a tenth of its inputs."""
    result = system.web_load(args.web_requests, args.web_concurrency,
                             warmup=max(1, args.web_requests // 10))
    if result["statuses"] != {"200": args.web_requests}:
        raise RuntimeError(f"{system.name} answered {result['statuses']} "
                           f"to {args.web_requests} requests")
    latencies = result["latencies_ms"]
    return {"requests": result["requests"], "seconds": round(result["seconds"], 4),
            "requests_per_s": round(result["requests"] / result["seconds"], 1),
            "p50_ms": round(percentile(latencies, 50), 3),
            "p99_ms": round(percentile(latencies, 99), 3), "latencies_ms": latencies}


def container_burst(system: System, args: argparse.Namespace) -> dict[str, Any]:
    """k) Containers started per second: the distinct containers that ran the burst's inputs,
    over the time from issuing the map to the latest of their first inputs' starts."""
    inputs = workloads.BURST_CONTAINERS
    taken = system.container_burst(inputs)
    time.sleep(CONTAINER_BURST_PAUSE_S)
    if len(taken.results) != inputs:
        raise RuntimeError(f"{system.name} returned {len(taken.results)} results for {inputs}")
    cpu_ms = None if taken.cpu_s is None else round(taken.cpu_s * 1e3 / len(taken.first_starts), 2)
    return {"starts_per_s": round(taken.starts_per_s, 2), "containers": len(taken.first_starts),
            "cpu_ms_per_start": cpu_ms,
            "last_start_s": round(taken.last_start_s, 4), "map_s": round(taken.map_s, 4),
            "setup_ms": [ms(taken.setup_s)],
            "first_starts_s": sorted(round(t - taken.issued, 4)
                                     for t in taken.first_starts.values())}


MEASURE: dict[str, Callable[[System, argparse.Namespace], dict[str, Any]]] = {
    WARM_CALL: warm_call, MAP: map_throughput, **{m: sampled(m) for m in SAMPLED},
    VOLUME: volume_throughput, WEB_RPS: web_throughput, CONTAINER_BURST: container_burst,
}


# -- one system ----------------------------------------------------------------------------------


def bench_system(system: System, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The system's results per measurement. A failure is recorded in place of the figure and
    the other measurements still run."""
    wanted = [m for m in args.only if m in system.measures and m not in IN_ROUNDS]
    results: dict[str, dict[str, Any]] = {}
    try:
        with system.runtime():
            warm = [m for m in wanted if m in (WARM_CALL, MAP)]
            if warm:
                with system.warm():
                    results.update(repeat(system, warm, args))
            for m in (m for m in wanted if m in SAMPLED):
                try:
                    SAMPLED[m].take(system, args)  # thrown away: see `Sampled`
                except Exception:  # recorded, as below
                    results[m] = failure(system, m)
                    continue
                results.update(repeat(system, [m], args))
            if CONTAINER_BURST in wanted:
                try:
                    system.container_burst(workloads.BURST_CONTAINERS)  # thrown away, as c)'s
                    time.sleep(CONTAINER_BURST_PAUSE_S)
                    results.update(repeat(system, [CONTAINER_BURST], args))
                except Exception:  # recorded, as below
                    results[CONTAINER_BURST] = failure(system, CONTAINER_BURST)
            if VOLUME in wanted:
                results.update(volume(system, args))
            if WEB_RPS in wanted:
                results.update(web(system, args))
    except Exception:  # a failure is a result: it is recorded and the run goes on
        outcome = failure(system, "-")
        for m in wanted:
            results.setdefault(m, outcome)
    return results


def volume(system: System, args: argparse.Namespace) -> dict[str, Any]:
    """g), after its setup and a first sample, thrown away (it starts ketch's container)."""
    try:
        with system.volume(args.volume_mib):
            system.volume_io(args.volume_mib)
            return repeat(system, [VOLUME], args)
    except Exception:  # recorded, as in bench_system
        return {VOLUME: failure(system, VOLUME)}


def web(system: System, args: argparse.Namespace) -> dict[str, Any]:
    """h), with the server up and answered once (for ketch: its container started)."""
    try:
        with system.web_server():
            return repeat(system, [WEB_RPS], args)
    except Exception:  # recorded, as in bench_system
        return {WEB_RPS: failure(system, WEB_RPS)}


def failure(system: System, measurement: str) -> dict[str, Any]:
    """The exception being handled, as a result."""
    error = traceback.format_exc()
    progress(system, measurement, f"failed: {error.strip().splitlines()[-1]}")
    return {"error": error}


def repeat(system: System, measurements: list[str], args: argparse.Namespace) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in measurements}
    failed: dict[str, str] = {}
    for i in range(args.repeat):
        for m in measurements:
            if m in failed:
                continue
            try:
                runs[m].append(MEASURE[m](system, args))
            except Exception:  # recorded, as in bench_system
                failed[m] = traceback.format_exc()
                progress(system, m, f"failed: {failed[m].strip().splitlines()[-1]}")
                continue
            summary = ", ".join(f"{k} {runs[m][-1][k]:,}" for k in SUMMARY_KEYS[m]
                                if runs[m][-1].get(k) is not None)
            progress(system, m, f"{i + 1}/{args.repeat}: {summary}")
    return {m: {"error": failed[m], "runs": runs[m]} if m in failed else summarize(m, runs[m])
            for m in measurements}


def summarize(measurement: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    figures = {key: [run[key] for run in runs if run.get(key) is not None]
               for key in SUMMARY_KEYS[measurement]}  # k)'s CPU time: None without /proc
    medians = {key: round(median(values), 3) for key, values in figures.items() if values}
    if runs and all("failures" in run for run in runs):  # i): the total, not a median
        medians["failures"] = sum(run["failures"] for run in runs)
    return {**medians, "runs": runs}


def progress(system: System, measurement: str, text: str) -> None:
    print(f"[{system.name}] {measurement}) {text}", file=sys.stderr, flush=True)


# -- the whole run -------------------------------------------------------------------------------


def isolate_ketch_state() -> None:
    """A fresh state directory and an embedded control plane, whatever the caller's shell has."""
    home = tempfile.mkdtemp(prefix="ketch-bench-")
    os.environ["KETCH_HOME"] = home
    for variable in ("KETCH_SERVER", "KETCH_MAX_CONTAINERS"):
        os.environ.pop(variable, None)
    # Registered before ketch registers its own exit hook, so it runs after the control plane
    # has closed (exit hooks run last-registered first).
    atexit.register(shutil.rmtree, home, ignore_errors=True)


def choose_systems(args: argparse.Namespace, notes: list[str]) -> list[System]:
    # The fork-based Pool goes before ketch, whose embedded control plane runs threads that a
    # fork should not copy. Ray goes last: its daemons and workers can take a while to exit
    # after shutdown, and must not take CPU from the systems measured after it. Plain uvicorn
    # goes before ketch too, so that the control plane's threads are not yet there.
    # n) to p) go after ketch's own measurements, before Ray, for the same reasons.
    chosen: list[System] = [systems.Pool(processes=os.cpu_count() or 2), systems.Subprocess(),
                            systems.HostDisk(), systems.Uvicorn(), systems.Ketch(), systems.Uv(),
                            images_bench.RegistryPulls()]
    if args.skip_ray:
        notes.append("Ray skipped (--skip-ray).")
    elif importlib.util.find_spec("ray") is None:
        notes.append("Ray skipped: it is not installed (pip install -e '.[bench]').")
    else:
        chosen.append(systems.Ray(num_cpus=os.cpu_count() or 2, warmup_tasks=1000))
    return [s for s in chosen if s.measures & set(args.only)]


def drop_namespace_measurements(args: argparse.Namespace, notes: list[str]) -> None:
    """Leave out d) to g), with a note, where the namespace runtime cannot run (not root, not
    Linux): images are built and run in it, and only it mounts volumes."""
    wanted = [m for m in args.only if m in NEEDS_NAMESPACE]
    problem = namespace_problem() if wanted else None
    if problem:
        notes.append(f"{','.join(wanted)}) skipped: {problem}")
        args.only = tuple(m for m in args.only if m not in NEEDS_NAMESPACE)


def drop_registry_measurements(args: argparse.Namespace, notes: list[str]) -> None:
    """Leave out n) to p), with a note, without root, docker-registry or skopeo."""
    wanted = tuple(m for m in args.only if m in images_bench.MEASUREMENTS)
    problem = images_bench.problem(wanted) if wanted else None
    if problem:
        notes.append(f"{','.join(wanted)}) skipped: {problem}")
        args.only = tuple(m for m in args.only if m not in images_bench.MEASUREMENTS)


def drop_heavy_measurement(args: argparse.Namespace, notes: list[str]) -> None:
    """Leave out l), with a note, where numpy or pandas is not installed (not a dependency of
    ketch nor of its `bench` extra)."""
    missing = [p for p in HEAVY_PACKAGES if importlib.util.find_spec(p) is None]
    if set(HEAVY) & set(args.only) and missing:
        notes.append(f"{' and '.join(HEAVY)}) skipped: {', '.join(missing)} not installed "
                     f"(pip install {' '.join(HEAVY_PACKAGES)}).")
        args.only = tuple(m for m in args.only if m not in HEAVY)


def busy_note(load: float) -> str | None:
    """A warning when other work shared the machine: the figures are then not comparable."""
    cpus = os.cpu_count() or 1
    if load <= 0.5 * cpus:
        return None
    return (f"warning: the machine was busy (1-minute load average {load:.1f} on {cpus} CPUs at "
            "the start); the figures may be noisy.")


def environment(chosen: list[System], load_before: float) -> dict[str, Any]:
    return {
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_1min": {"before": round(load_before, 2),
                              "after": round(os.getloadavg()[0], 2)},
        "ketch": importlib.metadata.version("ketch"),
        **_git_state(),
        "systems": {s.name: s.info() for s in chosen},
    }


def _git(*command: str) -> str | None:
    try:
        done = subprocess.run(["git", *command], cwd=BENCH_DIR, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _git_state() -> dict[str, Any]:
    """The commit measured, and whether ketch's tracked files differed from it (then the
    numbers belong to a working tree no commit holds)."""
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", ":/ketch")
    return {"git_commit": _git("rev-parse", "HEAD"),
            "git_dirty": None if changed is None else bool(changed)}


COLD_START_MEANING = {
    "ray": "Ray: a new actor's first method call.",
    "multiprocessing": "mp.Pool: Pool(1) and its first apply (fork).",
    "subprocess": "subprocess: python -c pass.",
}


def setup_note(results: report.Results, measurement: str) -> str:
    runs = results.get(measurement, {}).get("ketch", {}).get("runs", [])
    setup_ms = [v for run in runs for v in run.get("setup_ms", [])]
    return f"; entering app.run() before it took {median(setup_ms):.1f} ms p50" if setup_ms else ""


def cold_start_note(results: report.Results) -> str:
    by_system = results.get(COLD_START, {})
    runtime = systems.Ketch().info()["default_runtime"]
    peers = [text for name, text in COLD_START_MEANING.items() if name in by_system]
    return " ".join([f"c) ketch: first .remote() in a fresh app.run(), {runtime} runtime, no "
                     f"image{setup_note(results, COLD_START)}.", *peers])


def image_cold_start_note(results: report.Results) -> str:
    return ("d) ketch: as c), of a function in Image.debian_slim() (cached) with "
            "runtime='namespace'" + setup_note(results, IMAGE_COLD_START)
            + " (including the image's cache look-up). subprocess: python -c pass, again.")


IMAGE_NOTES = {
    IMAGE_CACHE_HIT: "e) Builder.build() of debian_slim().uv_pip_install(six).run_commands(...), "
                     "all 3 layers built, one asyncio.run() each.",
    IMAGE_BUILD: "f) ketch: Builder.build() of debian_slim().uv_pip_install(PKGS) into an empty "
                 "layer store; its base layer also holds ketch's runtime dependencies (cloudpickle, "
                 "msgspec, uvicorn; on ketch's own Python copied with their bytecode from ketch's "
                 "environment), and it compiles PKGS' bytecode and ketch's own modules. uv: uv venv "
                 "+ uv pip install PKGS, without bytecode. PKGS = "
                 f"{', '.join(workloads.BUILD_PACKAGES)}; uv's cache is shared and warm for both; the "
                 "two sides' samples alternate.",
}


def volume_note(args: argparse.Namespace) -> str:
    return (f"g) {args.volume_mib} MiB written to a new file in 4 MiB blocks, flush + fsync "
            "(then removed, untimed), and a file of the same size read whole in 4 MiB blocks; "
            f"median of {args.volume_samples} sample{'s' * (args.volume_samples != 1)} per repeat, "
            "MB = 10^6 bytes. ketch: "
            "volume_io.remote() in a warm namespace container, the volume at /data: the write "
            "goes to the container's own layer (overlay upper dir in KETCH_HOME; not committed), "
            "the read is of a file committed by batch_upload (the overlay's lower layer). host: "
            "the same code in this process, in KETCH_HOME/host-io on the same disk. Both files "
            "read were written just before (then os.sync()), so both reads come from the page "
            "cache; the writes reach the disk.")


def web_notes(results: report.Results, args: argparse.Namespace) -> list[str]:
    notes = []
    if WEB_RPS in results:
        notes.append(
            f"h) {args.web_requests:,} GETs of / over {args.web_concurrency} keep-alive "
            "connections by bench/loadgen.py (a process of its own, the same for both), after "
            f"{max(1, args.web_requests // 10):,} untimed ones; the app is webapp.make_app() "
            "(Starlette, one route, a short JSON answer); p99: each request from writing it to its "
            "answer's last byte. ketch: through the gateway, which hands each connection to a "
            "warm container (min_containers=1, @concurrent(max_inputs=100), @asgi_app) after "
            "its first request. uvicorn: python -m uvicorn, one worker. The generator shares "
            "the CPUs with the servers.")
    if WEB_BURST in results:
        outcome = results[WEB_BURST].get("ketch", {})
        failures = outcome.get("failures")
        counted = "no count (it failed)" if failures is None else f"{failures} non-200 answers"
        notes.append(
            f"i) ketch: {args.burst_requests} GETs fired at once (one connection each, by "
            "loadgen.py) at a fastapi_endpoint that sleeps "
            f"{workloads.BURST_SLEEP_S:g} s, max_containers=10, @concurrent(max_inputs=4), with "
            "no container running (a fresh app.run()); the time to the last answer; "
            f"{counted} in all {args.repeat * args.burst_samples} timed bursts"
            + setup_note(results, WEB_BURST) + ".")
    if WEB_COLD_START in results:
        notes.append(
            "j) ketch: the first GET of webapp.make_app() as an @asgi_app with no container "
            "running (a fresh app.run())" + setup_note(results, WEB_COLD_START)
            + ". uvicorn: from spawning python -m uvicorn to its first answer (the probe "
            "retries every 2 ms while the port refuses).")
    return notes


def container_burst_note(results: report.Results) -> str:
    runs = results.get(CONTAINER_BURST, {}).get("ketch", {}).get("runs", [])
    inputs = workloads.BURST_CONTAINERS
    capacity = systems.Ketch().info()["node_capacity"]
    text = (f"k) ketch: list(sleep_where.map([{workloads.BURST_INPUT_S:g}] * {inputs})) in a "
            f"fresh app.run(), cpu=0.01, memory=32, max_containers={inputs}; each input records "
            "time.time() as it begins and its container (os.uname().nodename). starts/s = "
            "distinct containers / (the latest container's first input start - the map's issue).")
    if runs:
        containers = [run["containers"] for run in runs]
        last = [run["last_start_s"] for run in runs]
        text += (f" Distinct containers per burst: {', '.join(map(str, containers))}; the last "
                 f"first start {median(last):.2f} s after the issue (median)"
                 + setup_note(results, CONTAINER_BURST) + ".")
        asked_cpu, asked_mib = inputs * 0.01, inputs * 32
        fits = asked_cpu <= capacity["cpu"] and asked_mib <= capacity["memory_mib"]
        text += (f" {inputs} containers ask {asked_cpu:g} CPU and {asked_mib} MiB of the node's "
                 f"{capacity['cpu']} CPU and {capacity['memory_mib']} MiB: "
                 + ("capacity is not the limit." if fits else "capacity is the limit."))
    return text


def heavy_cold_start_note(results: report.Results) -> str:
    imports = ", ".join(HEAVY_PACKAGES)
    return (f"l) ketch: as c), of heavy.versions, whose module imports {imports}"
            + setup_note(results, HEAVY_COLD_START)
            + f'. subprocess: python -c "import {imports}".')


def snapshot_cold_start_note(results: report.Results) -> str:
    return ("m) ketch: as l), of heavy.versions_snapshot (enable_memory_snapshot=True): forked "
            "from a zygote that imported numpy and pandas during the first, unmeasured sample"
            + setup_note(results, SNAPSHOT_COLD_START) + ". Target: at most a tenth of l).")


def measurement_notes(results: report.Results, args: argparse.Namespace,
                      chosen: list[System]) -> list[str]:
    notes = []
    if COLD_START in results:
        notes.append(cold_start_note(results))
    if IMAGE_COLD_START in results:
        notes.append(image_cold_start_note(results))
    notes += [text for m, text in IMAGE_NOTES.items() if m in results]
    if VOLUME in results:
        notes.append(volume_note(args))
    notes += web_notes(results, args)
    if CONTAINER_BURST in results:
        notes.append(container_burst_note(results))
    if HEAVY_COLD_START in results:
        notes.append(heavy_cold_start_note(results))
    if SNAPSHOT_COLD_START in results:
        notes.append(snapshot_cold_start_note(results))
    pulls = next((s for s in chosen if isinstance(s, images_bench.RegistryPulls)), None)
    if pulls is not None:
        notes += images_bench.notes(results, pulls.info())
    return notes


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    faulthandler.dump_traceback_later(args.timeout, exit=True)
    isolate_ketch_state()
    load_before = os.getloadavg()[0]
    notes = [note for note in [busy_note(load_before)] if note]
    drop_namespace_measurements(args, notes)
    drop_heavy_measurement(args, notes)
    drop_registry_measurements(args, notes)
    chosen = choose_systems(args, notes)

    results: report.Results = {m: {} for m in args.only}
    for system in chosen:
        if isinstance(system, images_bench.RegistryPulls):  # ketch's and its peers' results
            for measurement, by_system in system.bench(args).items():
                results[measurement].update(by_system)
            continue
        for measurement, outcome in bench_system(system, args).items():
            results[measurement][system.name] = outcome
        for measurement in IN_ROUNDS:  # where the last of its systems stands (before Ray)
            if measurement in args.only and system is [
                    s for s in chosen if measurement in s.measures][-1]:
                results[measurement].update(alternating(measurement, chosen, args))
    faulthandler.cancel_dump_traceback_later()

    notes += measurement_notes(results, args, chosen)
    errors = [f"{name} {m}): {outcome['error'].strip().splitlines()[-1]}"
              for m, by_system in results.items() for name, outcome in by_system.items()
              if "error" in outcome]
    notes += [f"error: {e} (full traceback in the JSON)" for e in errors]

    peers = [s for s in chosen if s.name != "ketch" and not isinstance(s, images_bench.RegistryPulls)]
    peers += images_bench.RegistryPulls.peers(args.only)
    peers.sort(key=lambda s: PEER_ORDER.index(s.name))
    title = f"ketch vs peers on {os.cpu_count()} CPUs, medians of {args.repeat} repeats"
    out = report.console()
    out.print(report.table(results, peers, title))
    for note in notes:
        out.print(note, markup=False)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    document = {"environment": environment(chosen, load_before), "options": options,
                "results": results, "targets": report.verdicts(results), "notes": notes}
    args.json.write_text(json.dumps(document, indent=1) + "\n")
    out.print(f"raw numbers: {args.json}", markup=False)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
