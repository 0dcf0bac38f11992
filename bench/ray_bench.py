"""ketch's ray backend against plain Ray tasks, on one local Ray cluster, side by side.

    python bench/ray_bench.py                       # medians of 3 repeats
    python bench/ray_bench.py --repeat 5 --map-inputs 5000 --json /tmp/ray-bench.json

It starts a local Ray cluster (one node with this machine's cores), a ``ketch server --backend
ray`` on it, and measures the same no-op work both ways, one after the other:

  warm round trip, p50 over ``--calls`` sequential calls after ``--warmup`` untimed ones:
      ketch ``noop.remote()`` (a warm container, an actor on the cluster)  vs  ``ray.get(noop.remote())``
  map throughput, inputs/s over ``--map-inputs`` inputs:
      ketch ``noop.map(range(n))``  vs  ``ray.get([noop.remote(i) for i in range(n)])``

Ratios are ketch's overhead over Ray's (latency ketch/Ray, throughput Ray/ketch); the target
is at most 1.5 for both.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))  # containers import `workloads` by that name

from stats import median, ms, percentile  # noqa: E402

TARGET = 1.5


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repeats; medians are reported")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first (50)")
    parser.add_argument("--calls", type=int, default=300, help="timed sequential calls (300)")
    parser.add_argument("--map-inputs", type=int, default=10_000, help="inputs per map (10,000)")
    parser.add_argument("--num-cpus", type=int, default=os.cpu_count() or 1,
                        help="CPUs of the Ray node (default: this machine's)")
    parser.add_argument("--json", type=Path, default=None, help="write the raw samples here")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class KetchServer:
    """``ketch server --backend ray`` on the cluster, with a KETCH_HOME of its own; this
    process becomes its client."""

    def __init__(self, ray_address: str, home: Path) -> None:
        self.port = free_port()
        self.home = home
        self.log = home.parent / "server.log"
        env = {**os.environ, "KETCH_HOME": str(home)}
        env.pop("KETCH_SERVER", None)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ketch.cli", "server", "--port", str(self.port),
                 "--gateway-port", "0", "--backend", "ray", "--ray-address", ray_address],
                env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"ketch server did not start: {self.log.read_text()}")
        os.environ.update(KETCH_HOME=str(home), KETCH_SERVER=f"127.0.0.1:{self.port}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def round_trips(call: Any, warmup: int, calls: int) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def throughput(run_map: Any, n: int) -> float:
    start = time.perf_counter()
    done = run_map(n)
    elapsed = time.perf_counter() - start
    assert done == n, f"{done} of {n} inputs came back"
    return n / elapsed


def measure_ray(ray: Any, args: argparse.Namespace) -> dict[str, list[float]]:
    @ray.remote
    def noop(x: Any = None) -> Any:
        return x

    ray.get([noop.remote(i) for i in range(200)])  # workers start lazily: not what is measured
    out: dict[str, list[float]] = {"p50_s": [], "p99_s": [], "map_per_s": []}
    for _ in range(args.repeat):
        samples = round_trips(lambda: ray.get(noop.remote()), args.warmup, args.calls)
        out["p50_s"].append(percentile(samples, 50))
        out["p99_s"].append(percentile(samples, 99))
        out["map_per_s"].append(throughput(
            lambda n: len(ray.get([noop.remote(i) for i in range(n)])), args.map_inputs))
    return out


def measure_ketch(args: argparse.Namespace) -> dict[str, list[float]]:
    import workloads

    out: dict[str, list[float]] = {"p50_s": [], "p99_s": [], "map_per_s": []}
    with workloads.app.run():
        workloads.noop.remote()  # a warm container
        for _ in range(args.repeat):
            samples = round_trips(workloads.noop.remote, args.warmup, args.calls)
            out["p50_s"].append(percentile(samples, 50))
            out["p99_s"].append(percentile(samples, 99))
            out["map_per_s"].append(throughput(
                lambda n: sum(1 for _ in workloads.noop.map(range(n))), args.map_inputs))
    return out


def report(ketch: dict[str, list[float]], ray: dict[str, list[float]]) -> list[str]:
    k = {name: median(values) for name, values in ketch.items()}
    r = {name: median(values) for name, values in ray.items()}
    rows = [
        ("warm round trip p50", f"{ms(k['p50_s']):.2f} ms", f"{ms(r['p50_s']):.2f} ms",
         k["p50_s"] / r["p50_s"]),
        ("warm round trip p99", f"{ms(k['p99_s']):.2f} ms", f"{ms(r['p99_s']):.2f} ms",
         k["p99_s"] / r["p99_s"]),
        ("map throughput", f"{k['map_per_s']:,.0f}/s", f"{r['map_per_s']:,.0f}/s",
         r["map_per_s"] / k["map_per_s"]),
    ]
    lines = [f"{'':22} {'ketch on Ray':>14} {'plain Ray':>12} {'overhead':>9}  target ≤ {TARGET}×"]
    for name, ours, theirs, ratio in rows:
        met = "" if name.endswith("p99") else ("met" if ratio <= TARGET else "NOT met")
        lines.append(f"{name:22} {ours:>14} {theirs:>12} {ratio:>8.2f}×  {met}")
    return lines


def main() -> int:
    args = parse_args()
    import ray
    from ray.cluster_utils import Cluster

    workdir = Path(tempfile.mkdtemp(prefix="ketch-ray-bench-"))
    os.environ["KETCH_HOME"] = str(workdir / "node")  # the node's own state (image layers …)
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": args.num_cpus, "include_dashboard": False})
    server = None
    try:
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
        ray_samples = measure_ray(ray, args)
        server = KetchServer(cluster.address, workdir / "home")
        ketch_samples = measure_ketch(args)
    finally:
        if server is not None:
            server.stop()
        ray.shutdown()
        cluster.shutdown()
    print(f"ray {ray.__version__}, {args.num_cpus} CPUs, medians of {args.repeat} repeats; "
          f"{args.calls} calls, {args.map_inputs:,} inputs per map")
    lines = report(ketch_samples, ray_samples)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"ketch": ketch_samples, "ray": ray_samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
