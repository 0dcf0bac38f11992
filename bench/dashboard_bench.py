"""a) and b) of bench/run.py with a dashboard tab open on the app's page, against the same
with none, in rounds that alternate the two.

    python bench/dashboard_bench.py                  # 12 rounds: about three minutes on 2 cores
    python bench/dashboard_bench.py --rounds 20 --json /tmp/dashboard.json

The tab is a headless Debian chromium, signed in with the embedded control plane's launch key,
on the page of the app a) and b) call: it holds that app's live stream open (the control
plane's change notes and log lines) and fetches the page's tables again each time the stream
says they changed, as a person's tab would. Each round measures both sides in one
``app.run()``, each going first in turn, after the same pause: a) as bench/run.py does, b)
``--maps`` times (their median). The figures are medians over the rounds.

The target is on the wall-clock figures of bench/run.py: with the tab, a) p50 at most 1.05× and
b) at least 0.95× the medians without. Beside them, the CPU time the work costs: this process's
(the caller and its embedded control plane, which serves the dashboard too) per call of a) and
per 10,000 inputs of b), and the browser's over the same span. Then ``--steady-rounds`` rounds
of b)'s maps back to back for ``--steady`` seconds on each side, where a tab's cost is
averaged over many of its updates rather than caught, or not, in a window of a quarter second:
inputs/s, ketch's CPU per 10,000 inputs, and the browser's share of a core. On a machine shared
with other work, the figures of one side swing by a factor of two from round to round; the
steady rounds swing least.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import run  # noqa: E402  (a) and b) as bench/run.py measures them)
import systems  # noqa: E402
import workloads  # noqa: E402
from stats import median  # noqa: E402

# Before each side's figures: a tab open, not opening (chromium's start-up work is over, its
# tables fetched), and the same pause without one, since a pause alone changes the next figures.
SETTLE_S = 5.0
NONE, TAB = "no tab", "a tab"
MAX_SLOWER = 1.05  # a) p50 with the tab, of without
MIN_RATE = 0.95  # b) inputs/s with the tab, of without
FIGURES = (("a_p50_ms", "a) warm call p50, ms"), ("a_p99_ms", "a) warm call p99, ms"),
           ("a_cpu_us", "a) CPU per call, µs"), ("a_browser_us", "a) browser CPU per call, µs"),
           ("b_inputs_per_s", "b) map, inputs/s"), ("b_cpu_ms", "b) CPU per 10k inputs, ms"),
           ("b_browser_ms", "b) browser CPU per 10k, ms"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="rounds, each both sides (12)")
    parser.add_argument("--warmup", type=int, default=50, help="a) untimed calls first (50)")
    parser.add_argument("--calls", type=int, default=500, help="a) timed calls (500)")
    parser.add_argument("--map-inputs", type=int, default=10_000, help="b) inputs (10,000)")
    parser.add_argument("--maps", type=int, default=3,
                        help="b) maps per side in each round, their median kept (3)")
    parser.add_argument("--steady", type=float, default=20.0,
                        help="seconds of back-to-back b) maps per side in each steady round (20)")
    parser.add_argument("--steady-rounds", type=int, default=3,
                        help="steady rounds, each both sides (3; 0 leaves them out)")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results" / "dashboard.json")
    args = parser.parse_args(argv)
    if min(args.rounds, args.calls, args.map_inputs, args.maps) < 1:
        parser.error("--rounds, --calls, --map-inputs and --maps must be at least 1")
    return args


def control_plane() -> Any:
    """This process's embedded control plane, with its dashboard started."""
    from ketch import synchronizer
    from ketch.client import get_client

    cp = synchronizer.run(get_client()).transport.control_plane
    synchronizer.run(cp.dashboard.start())
    return cp


def session_cpu(session: int | None) -> float:
    """CPU seconds used so far by the processes of a session (the browser's), 0 for None."""
    if session is None:
        return 0.0
    ticks = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # fields after the name: state, ppid, pgrp, session, …
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def tab(cp: Any, app_id: str) -> Iterator[int]:
    """A headless chromium on the app's page until the block ends, once its stream is open;
    yields its session id (all its processes)."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt install chromium)")
    profile = tempfile.mkdtemp(prefix="ketch-bench-chromium-")
    url = f"{cp.dashboard.launch_link}&next=/apps/{app_id}"
    browser = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while cp.changes.watchers < 1:  # the page has opened its live stream
            if time.monotonic() > deadline or browser.poll() is not None:
                raise RuntimeError("the dashboard tab did not open the app's live stream")
            time.sleep(0.05)
        yield browser.pid
    finally:
        os.killpg(browser.pid, signal.SIGTERM)
        browser.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def cpu_of(work: Callable[[], Any], browser: int | None) -> tuple[Any, float, float]:
    """``work()``'s answer, and the CPU seconds this process and the browser spent meanwhile."""
    ours, theirs = time.process_time(), session_cpu(browser)
    answer = work()
    return answer, time.process_time() - ours, session_cpu(browser) - theirs


def measure(system: systems.Ketch, args: argparse.Namespace,
            browser: int | None) -> dict[str, float]:
    a, a_cpu, a_browser = cpu_of(lambda: run.warm_call(system, args), browser)
    calls = args.warmup + args.calls
    maps = [cpu_of(lambda: run.map_throughput(system, args), browser) for _ in range(args.maps)]
    per_10k = 10_000 / (args.map_inputs + max(1, args.map_inputs // 10))  # with its warm-up map
    return {"a_p50_ms": a["p50_ms"], "a_p99_ms": a["p99_ms"],
            "a_cpu_us": round(a_cpu / calls * 1e6, 1),
            "a_browser_us": round(a_browser / calls * 1e6, 1),
            "b_inputs_per_s": median([b["inputs_per_s"] for b, _, _ in maps]),
            "b_cpu_ms": round(median([cpu for _, cpu, _ in maps]) * per_10k * 1e3, 1),
            "b_browser_ms": round(median([cpu for _, _, cpu in maps]) * per_10k * 1e3, 1)}


def steady(system: systems.Ketch, args: argparse.Namespace,
           browser: int | None) -> dict[str, float]:
    """b)'s maps back to back for ``--steady`` seconds: inputs/s, ketch's CPU per 10,000
    inputs, and the browser's CPU as a share of one core."""
    def maps() -> tuple[int, float]:
        started, inputs = time.monotonic(), 0
        while time.monotonic() - started < args.steady:
            inputs += system.map(args.map_inputs)
        return inputs, time.monotonic() - started

    (inputs, wall), cpu, browser_cpu = cpu_of(maps, browser)
    return {"inputs_per_s": round(inputs / wall, 1), "cpu_ms_per_10k": round(
        cpu / inputs * 1e7, 1), "browser_core_pct": round(browser_cpu / wall * 100, 2)}


def report(args: argparse.Namespace, rounds: dict[str, list[dict[str, float]]],
           load_before: float) -> dict[str, Any]:
    medians = {side: {key: median([r[key] for r in runs]) for key, _ in FIGURES}
               for side, runs in rounds.items()}
    ratio = {key: medians[TAB][key] / medians[NONE][key] if medians[NONE][key] else None
             for key, _ in FIGURES}
    cost = {part: (medians[TAB][f"{part}_cpu_{unit}"] + medians[TAB][f"{part}_browser_{unit}"])
            / medians[NONE][f"{part}_cpu_{unit}"] for part, unit in (("a", "us"), ("b", "ms"))}
    met = ratio["a_p50_ms"] <= MAX_SLOWER and ratio["b_inputs_per_s"] >= MIN_RATE
    print(f"\nmedians of {args.rounds} rounds on {os.cpu_count()} CPUs "
          f"(load {load_before:.2f} at the start)")
    print(f"{'':30}{NONE:>12}{TAB:>12}{'ratio':>8}")
    for key, title in FIGURES:
        shown = f"{ratio[key]:>8.3f}" if ratio[key] is not None else f"{'':>8}"
        print(f"{title:30}{medians[NONE][key]:>12,.1f}{medians[TAB][key]:>12,.1f}{shown}")
    for part, c in cost.items():
        print(f"{part}) CPU with the tab (ketch's + the browser's) of ketch's without: {c:.3f}")
    print(f"target (a) p50 ≤ {MAX_SLOWER}×, b) ≥ {MIN_RATE}× of no tab's): "
          f"{'met' if met else 'NOT met'}")
    return {"medians": medians, "ratios": ratio, "cpu_cost": cost, "met": met}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run.isolate_ketch_state()
    load_before = os.getloadavg()[0]
    system = systems.Ketch()
    rounds: dict[str, list[dict[str, float]]] = {NONE: [], TAB: []}
    steadily: dict[str, list[dict[str, float]]] = {NONE: [], TAB: []}
    with system.warm():
        cp = control_plane()
        for kept, count, take in ((rounds, args.rounds, measure),
                                  (steadily, args.steady_rounds, steady)):
            for i in range(count):
                for side in (NONE, TAB) if i % 2 == 0 else (TAB, NONE):
                    with tab(cp, workloads.app.app_id) if side == TAB \
                            else contextlib.nullcontext() as browser:
                        time.sleep(SETTLE_S)  # on both sides: the same pause before measuring
                        kept[side].append(take(system, args, browser))
                    figures = ", ".join(f"{k} {v:,}" for k, v in kept[side][-1].items())
                    what = "round" if kept is rounds else "steady round"
                    print(f"{what} {i + 1}/{count}, {side}: {figures}", flush=True)
    summary = report(args, rounds, load_before)
    steady_medians = {side: {k: median([r[k] for r in runs]) for k in runs[0]}
                      for side, runs in steadily.items() if runs}
    for side, figures in steady_medians.items():
        print(f"steady, {side}: " + ", ".join(f"{k} {v:,}" for k, v in figures.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"options": {k: str(v) for k, v in vars(args).items()},
                                     "load_before": load_before, "rounds": rounds,
                                     "steady_rounds": steadily, "steady": steady_medians,
                                     **summary}, indent=1) + "\n")
    print(f"raw numbers: {args.json}")
    return 0 if summary["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
