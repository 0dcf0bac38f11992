"""Sandbox start-up, per runtime, against the bare isolation tools it is built on, in one run.

    python bench/sandbox_bench.py                    # 50 sandboxes per runtime and network
    python bench/sandbox_bench.py --count 20 --runtimes namespace --json /tmp/sb.json

For each runtime (gvisor, namespace) and network (the default, filtered; block_network):

  first output: ``Sandbox.create()`` then ``sb.exec("echo", "hi")`` until its first line
      arrives, p50 and p95 over ``--count`` sandboxes one after another (each terminated
      before the next; the target: p50 ≤ 100 ms on namespace, ≤ 500 ms on gVisor). Back to
      back, each create waits for the spare the one before it started (its start is the
      runtime's); ``spaced`` leaves ``--pause`` seconds between sandboxes, as a program that
      creates them now and then does, so each finds its spare running; ``cold`` turns the
      spares off (``KETCH_SANDBOX_SPARES=0``): every sandbox starts from nothing.
  burst: ``--count`` sandboxes created at once (threads), each exec'ing ``echo``: the time
      until the last first line arrived, and sandboxes started per second. Each asks for
      ``cpu=0.025`` so that all of them fit on a small machine at once (the default, Modal's
      0.125 cores, reserves 2 cores for 16 sandboxes).

Peers, timed the same way in the same run, start-to-output of ``echo hi``:
  subprocess     ``subprocess.run(["echo", "hi"])``: no isolation, the floor;
  unshare        ``unshare --mount --pid --fork --net --uts --ipc echo hi``: the namespaces
                 alone, with no root of its own, no cgroup and no supervisor;
  runsc          ``runsc --network=none do echo hi``: gVisor alone, on the host's root.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from stats import median, ms, percentile  # noqa: E402

TARGETS_MS = {"namespace": 100.0, "gvisor": 500.0}
BURST_CPU = 0.025
PEERS = {
    "subprocess": ["echo", "hi"],
    "unshare": ["unshare", "--mount", "--pid", "--fork", "--net", "--uts", "--ipc", "echo", "hi"],
    "runsc": ["runsc", "--network=none", "do", "echo", "hi"],
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="sandboxes per measurement (50)")
    parser.add_argument("--runtimes", default="gvisor,namespace")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds between sandboxes in the spaced measurement (1.0)")
    parser.add_argument("--json", type=Path, default=None, help="write the raw samples here")
    return parser.parse_args()


def first_output(app: Any, runtime: str, block_network: bool) -> float:
    import ketch

    started = time.perf_counter()
    sb = ketch.Sandbox.create(app=app, runtime=runtime, block_network=block_network)
    line = next(iter(sb.exec("echo", "hi").stdout))
    elapsed = time.perf_counter() - started
    assert line.strip() == "hi", line
    sb.terminate()
    return elapsed


def burst(app: Any, runtime: str, block_network: bool, count: int) -> float:
    """Seconds from the first create to the last first line, ``count`` sandboxes at once."""
    import ketch

    made: list[Any] = []
    errors: list[BaseException] = []

    def one() -> None:
        try:
            sb = ketch.Sandbox.create(app=app, runtime=runtime, block_network=block_network,
                                      cpu=BURST_CPU)
            made.append(sb)
            next(iter(sb.exec("echo", "hi").stdout))
        except BaseException as exc:  # reported after the burst
            errors.append(exc)

    started = time.perf_counter()
    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    for sb in made:
        sb.terminate()
    if errors:
        raise errors[0]
    return elapsed


def peer(command: list[str], count: int) -> list[float] | None:
    if shutil.which(command[0]) is None:
        return None
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return samples


def main() -> None:
    args = parse_args()
    os.environ.setdefault("KETCH_HOME", tempfile.mkdtemp(prefix="ketch-sandbox-bench-"))
    import ketch

    app = ketch.App.lookup("sandbox-bench", create_if_missing=True)
    results: dict[str, Any] = {"peers": {}, "ketch": {}}
    for runtime in args.runtimes.split(","):
        for block in (False, True):
            label = f"{runtime}{' block_network' if block else ''}"
            first_output(app, runtime, block)  # warm: the network table, the driver
            samples = [first_output(app, runtime, block) for _ in range(args.count)]
            spaced = []
            for _ in range(args.count):
                time.sleep(args.pause)
                spaced.append(first_output(app, runtime, block))
            burst_s = burst(app, runtime, block, args.count)
            os.environ["KETCH_SANDBOX_SPARES"] = "0"
            first_output(app, runtime, block)  # takes the last spare; none follows it
            cold = [first_output(app, runtime, block) for _ in range(args.count)]
            del os.environ["KETCH_SANDBOX_SPARES"]
            results["ketch"][label] = {"samples_ms": [ms(s) for s in samples],
                                       "spaced_ms": [ms(s) for s in spaced],
                                       "cold_ms": [ms(s) for s in cold],
                                       "burst_s": round(burst_s, 3)}
    for name, command in PEERS.items():
        samples = peer(command, args.count)
        if samples is not None:
            results["peers"][name] = {"samples_ms": [ms(s) for s in samples]}
    print_table(results, args.count)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def print_table(results: dict[str, Any], count: int) -> None:
    print(f"\nSandbox.create → first exec output, {count} sandboxes each (ms)\n")
    print("| system | p50 | p95 | spaced p50 | spaced p95 | cold p50 | cold p95 | burst of "
          + str(count) + " | target (p50) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, row in results["ketch"].items():
        samples, spaced, cold = row["samples_ms"], row["spaced_ms"], row["cold_ms"]
        p50 = median(samples)
        target = TARGETS_MS[label.split()[0]]
        verdict = f"≤ {target:g}: {'met' if p50 <= target else 'missed'}"
        rate = f"{row['burst_s']:.2f} s ({count / row['burst_s']:.0f}/s)"
        print(f"| ketch {label} | {p50:.1f} | {percentile(samples, 95):.1f} | "
              f"{median(spaced):.1f} | {percentile(spaced, 95):.1f} | {median(cold):.1f} | "
              f"{percentile(cold, 95):.1f} | {rate} | {verdict} |")
    for name, row in results["peers"].items():
        samples = row["samples_ms"]
        print(f"| peer: {name} | {median(samples):.1f} | {percentile(samples, 95):.1f} "
              "| | | | | | |")


if __name__ == "__main__":
    main()
