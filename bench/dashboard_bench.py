"""a) and b) of bench/run.py with a dashboard tab open on the app's page, against the same
with none, in rounds that alternate the two.

    python bench/dashboard_bench.py                  # 10 rounds: about two minutes on 2 cores
    python bench/dashboard_bench.py --rounds 20 --json /tmp/dashboard.json

The tab is a headless Debian chromium, signed in with the embedded control plane's launch key,
on the page of the app a) and b) call: it holds that app's live stream open (the control
plane's change notes and log lines) and re-fetches the calls, containers and functions tables
each time the stream says they changed, as a person's tab would. Each round measures both
sides in one ``app.run()``, in the order ABBA (so a drift of the machine's load falls on both):
a) as bench/run.py does, b) ``--maps`` times (their median); the figures are medians over the
rounds. The target: with the tab, a) p50 at most 1.05×
and b) at least 0.95× the figures without.
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
from collections.abc import Iterator
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
# The sides measured: no tab; a tab whose browser competes for the cores as any process does;
# and one whose browser runs at nice 19, as if it ran on the viewer's own machine (where a
# browser runs in practice), so that what remains is the cost to the control plane: its stream,
# and the pages it renders. The target is judged on the last.
NONE, BEHIND = "no tab", "a tab, browser at nice 19"
SIDES: dict[str, int | None] = {NONE: None, "a tab": 0, BEHIND: 19}
MAX_SLOWER = 1.05  # a) p50 with the tab, of without
MIN_RATE = 0.95  # b) inputs/s with the tab, of without
FIGURES = (("a_p50_ms", "a) warm call p50, ms"), ("a_p99_ms", "a) warm call p99, ms"),
           ("b_inputs_per_s", "b) map, inputs/s"))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds, each both sides (10)")
    parser.add_argument("--warmup", type=int, default=50, help="a) untimed calls first (50)")
    parser.add_argument("--calls", type=int, default=500, help="a) timed calls (500)")
    parser.add_argument("--map-inputs", type=int, default=10_000, help="b) inputs (10,000)")
    parser.add_argument("--maps", type=int, default=3,
                        help="b) maps per side in each round, their median kept (3)")
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


@contextlib.contextmanager
def tab(cp: Any, app_id: str, nice: int = 0) -> Iterator[None]:
    """A headless chromium on the app's page until the block ends (at ``nice``, its CPU
    priority); waits for its stream."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt install chromium)")
    profile = tempfile.mkdtemp(prefix="ketch-bench-chromium-")
    url = f"{cp.dashboard.launch_link}&next=/apps/{app_id}"
    browser = subprocess.Popen(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=(lambda: os.nice(nice)) if nice else None)
    try:
        deadline = time.monotonic() + 60
        cp.changes.note("apps")  # wakes, and so forgets, the streams of earlier tabs
        while cp.changes.listeners < 1:  # the page's stream waits for the next change
            if time.monotonic() > deadline or browser.poll() is not None:
                raise RuntimeError("the dashboard tab did not open the app's live stream")
            time.sleep(0.05)
        yield
    finally:
        os.killpg(browser.pid, signal.SIGTERM)
        browser.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


def measure(system: systems.Ketch, args: argparse.Namespace) -> dict[str, float]:
    a = run.warm_call(system, args)
    b = [run.map_throughput(system, args)["inputs_per_s"] for _ in range(args.maps)]
    return {"a_p50_ms": a["p50_ms"], "a_p99_ms": a["p99_ms"], "b_inputs_per_s": median(b)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run.isolate_ketch_state()
    load_before = os.getloadavg()[0]
    system = systems.Ketch()
    rounds: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    with system.warm():
        cp = control_plane()
        for i in range(args.rounds):
            names = list(SIDES)
            for side in names[i % len(names):] + names[:i % len(names)]:  # each goes first
                nice = SIDES[side]
                with tab(cp, workloads.app.app_id, nice) if nice is not None \
                        else contextlib.nullcontext():
                    time.sleep(SETTLE_S)  # on every side: the same pause before measuring
                    rounds[side].append(measure(system, args))
                figures = ", ".join(f"{k} {v:,}" for k, v in rounds[side][-1].items())
                print(f"round {i + 1}/{args.rounds}, {side}: {figures}", flush=True)
    medians = {side: {key: median([r[key] for r in runs]) for key, _ in FIGURES}
               for side, runs in rounds.items()}
    ratios = {side: {key: medians[side][key] / medians[NONE][key] for key, _ in FIGURES}
              for side in SIDES if side != NONE}
    met = {side: r["a_p50_ms"] <= MAX_SLOWER and r["b_inputs_per_s"] >= MIN_RATE
           for side, r in ratios.items()}
    print(f"\nmedians of {args.rounds} rounds on {os.cpu_count()} CPUs "
          f"(load {load_before:.2f} at the start); ratios to {NONE}")
    print(f"{'':24}" + "".join(f"{side:>28}" for side in SIDES))
    for key, title in FIGURES:
        print(f"{title:24}{medians[NONE][key]:>28,.3f}" + "".join(
            f"{medians[side][key]:>19,.3f} ({ratios[side][key]:.3f})" for side in ratios))
    for side, ok in met.items():
        print(f"{side}: target (a) p50 ≤ {MAX_SLOWER}×, b) ≥ {MIN_RATE}×) "
              f"{'met' if ok else 'NOT met'}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"options": {k: str(v) for k, v in vars(args).items()},
                                     "load_before": load_before, "rounds": rounds,
                                     "medians": medians, "ratios": ratios, "met": met},
                                    indent=1) + "\n")
    print(f"raw numbers: {args.json}")
    return 0 if met[BEHIND] else 1


if __name__ == "__main__":
    sys.exit(main())
