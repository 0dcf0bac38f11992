"""Benchmark ketch against a local Ray and `multiprocessing.Pool`, side by side in one run.

    python bench/run.py                    # all measurements, medians of 3 repeats
    python bench/run.py --only a,b --skip-ray --repeat 5 --json /tmp/bench.json

Measurements (the design's targets table, docs in bench/README.md):
  a) warm no-op round trip, p50 and p99      b) .map over 10,000 no-op inputs, inputs/s
  c) cold start: time to the first result of a function with nothing running

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
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # `workloads` must import by that name, here and in containers

import report  # noqa: E402
import systems  # noqa: E402
from stats import median, ms, percentile  # noqa: E402
from systems import COLD_START, MAP, WARM_CALL, System  # noqa: E402

ALL = (WARM_CALL, MAP, COLD_START)
SUMMARY_KEYS = {WARM_CALL: ("p50_ms", "p99_ms"), MAP: ("inputs_per_s",), COLD_START: ("p50_ms",)}
PEER_ORDER = ("ray", "multiprocessing", "subprocess")  # in the table: the targets' peer first
COLD_PAUSE_S = 0.1  # lets the last sample's process finish exiting before the next starts


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3,
                        help="repeats of each measurement (default 3)")
    parser.add_argument("--only", type=_measurements, default=ALL, metavar="a,b,c",
                        help="which measurements to run (default all)")
    parser.add_argument("--skip-ray", action="store_true", help="leave Ray out")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results" / "latest.json",
                        help="where to write the raw numbers (default bench/results/latest.json)")
    parser.add_argument("--warmup", type=int, default=50,
                        help="a) untimed calls first (default 50)")
    parser.add_argument("--calls", type=int, default=500, help="a) timed calls (default 500)")
    parser.add_argument("--map-inputs", type=int, default=10_000, help="b) inputs (default 10,000)")
    parser.add_argument("--cold-samples", type=int, default=10,
                        help="c) cold starts per repeat (default 10)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="dump every thread's stack and exit after this many seconds, so a "
                             "hang is reported instead of waited on (default 600)")
    args = parser.parse_args(argv)
    if min(args.repeat, args.calls, args.map_inputs, args.cold_samples) < 1:
        parser.error("--repeat, --calls, --map-inputs and --cold-samples must be at least 1")
    return args


def _measurements(text: str) -> tuple[str, ...]:
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(ALL)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"expected some of a,b,c, not {text!r}")
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


def cold_start(system: System, args: argparse.Namespace) -> dict[str, Any]:
    taken = []
    for _ in range(args.cold_samples):
        taken.append(system.cold_start())
        time.sleep(COLD_PAUSE_S)
    run: dict[str, Any] = {
        "p50_ms": ms(percentile([s.first_result_s for s in taken], 50)),
        "samples_ms": [ms(s.first_result_s) for s in taken],
    }
    if any(s.setup_s for s in taken):
        run["setup_ms"] = [ms(s.setup_s) for s in taken]
    return run


MEASURE: dict[str, Callable[[System, argparse.Namespace], dict[str, Any]]] = {
    WARM_CALL: warm_call, MAP: map_throughput, COLD_START: cold_start,
}


# -- one system ----------------------------------------------------------------------------------


def bench_system(system: System, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The system's results per measurement. A failure is recorded in place of the figure and
    the other measurements still run."""
    wanted = [m for m in args.only if m in system.measures]
    results: dict[str, dict[str, Any]] = {}
    try:
        with system.runtime():
            warm = [m for m in wanted if m != COLD_START]
            if warm:
                with system.warm():
                    results.update(repeat(system, warm, args))
            if COLD_START in wanted:
                # One cold start thrown away: the first pays for things no later one does (the
                # page cache; for ketch, starting the embedded control plane).
                system.cold_start()
                results.update(repeat(system, [COLD_START], args))
    except Exception:  # a failure is a result: it is recorded and the run goes on
        failure = {"error": traceback.format_exc()}
        progress(system, "-", f"failed: {failure['error'].strip().splitlines()[-1]}")
        for m in wanted:
            results.setdefault(m, failure)
    return results


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
            summary = ", ".join(f"{k} {runs[m][-1][k]:,}" for k in SUMMARY_KEYS[m])
            progress(system, m, f"{i + 1}/{args.repeat}: {summary}")
    return {m: {"error": failed[m], "runs": runs[m]} if m in failed else summarize(m, runs[m])
            for m in measurements}


def summarize(measurement: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    medians = {key: round(median([run[key] for run in runs]), 3)
               for key in SUMMARY_KEYS[measurement]}
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
    # after shutdown, and must not take CPU from the systems measured after it.
    chosen: list[System] = [systems.Pool(processes=os.cpu_count() or 2), systems.Subprocess(),
                            systems.Ketch()]
    if args.skip_ray:
        notes.append("Ray skipped (--skip-ray).")
    elif importlib.util.find_spec("ray") is None:
        notes.append("Ray skipped: it is not installed (pip install -e '.[bench]').")
    else:
        chosen.append(systems.Ray(num_cpus=os.cpu_count() or 2, warmup_tasks=1000))
    return [s for s in chosen if s.measures & set(args.only)]


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


def cold_start_note(results: report.Results) -> str:
    by_system = results.get(COLD_START, {})
    setup_ms = [v for run in by_system.get("ketch", {}).get("runs", [])
                for v in run.get("setup_ms", [])]
    extra = f"; entering app.run() before it took {median(setup_ms):.1f} ms p50" if setup_ms else ""
    peers = [text for name, text in COLD_START_MEANING.items() if name in by_system]
    return " ".join([f"c) ketch: first .remote() in a fresh app.run(){extra}.", *peers])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    faulthandler.dump_traceback_later(args.timeout, exit=True)
    isolate_ketch_state()
    load_before = os.getloadavg()[0]
    notes = [note for note in [busy_note(load_before)] if note]
    chosen = choose_systems(args, notes)

    results: report.Results = {m: {} for m in args.only}
    for system in chosen:
        for measurement, outcome in bench_system(system, args).items():
            results[measurement][system.name] = outcome
    faulthandler.cancel_dump_traceback_later()

    if COLD_START in args.only:
        notes.append(cold_start_note(results))
    errors = [f"{name} {m}): {outcome['error'].strip().splitlines()[-1]}"
              for m, by_system in results.items() for name, outcome in by_system.items()
              if "error" in outcome]
    notes += [f"error: {e} (full traceback in the JSON)" for e in errors]

    peers = sorted((s for s in chosen if s.name != "ketch"), key=lambda s: PEER_ORDER.index(s.name))
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
