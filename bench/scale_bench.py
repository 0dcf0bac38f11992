"""Scale: a `.map` of up to a million no-op inputs, and ten thousand calls spawned at once, on a
real `ketch server`, with the control plane's memory.

    python bench/scale_bench.py                       # maps of 10k, 100k, 1M; 10k spawns
    python bench/scale_bench.py --sizes 10000,100000 --spawns 2000 --json /tmp/scale.json

For each map it reports inputs/s and the server's peak resident memory (VmHWM of the
``ketch server`` process: control plane, worker and gateway, not the containers) after it; the
target is throughput that stays flat from 10k to 1M and a peak of at most 300 MB. The spawns are
10,000 `.spawn()`s issued at once (`asyncio.gather` of `spawn.aio`), then every result read with
`FunctionCall.get`: all must return. The raw figures go to the JSON (default
bench/results/scale.json).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
TARGET_MB = 300

CLIENT = """
import asyncio, sys, time
from workloads import app, noop

sizes = [int(n) for n in sys.argv[1].split(",")]
spawns = int(sys.argv[2])
with app.run():
    sum(1 for _ in noop.map(range(1000)))  # containers up before the clock starts
    for n in sizes:
        start = time.perf_counter()
        got = sum(1 for _ in noop.map(range(n)))
        elapsed = time.perf_counter() - start
        assert got == n, (got, n)
        print(f"map {n} {elapsed:.4f}", flush=True)
        input()  # the parent reads the server's memory, then lets the next size go

    async def spawn_all():
        return await asyncio.gather(*(noop.spawn.aio(i) for i in range(spawns)))

    start = time.perf_counter()
    calls = asyncio.run(spawn_all())  # .aio runs each on ketch's own loop
    spawned = time.perf_counter() - start
    results = [call.get(timeout=600) for call in calls]
    assert results == list(range(spawns)), "a spawned call returned the wrong value"
    print(f"spawn {spawns} {spawned:.4f} {time.perf_counter() - start:.4f}", flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def run(sizes: list[int], spawns: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="ketch-scale-"))
    port = _free_port()
    env = {**os.environ, "KETCH_HOME": str(home), "PYTHONPATH": str(BENCH_DIR)}
    env.pop("KETCH_SERVER", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "ketch.cli", "server", "--port", str(port), "--gateway-port",
         "0", "--dashboard-port", "0"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        _wait_for(home / "server.json")
        client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, ",".join(map(str, sizes)), str(spawns)],
            env={**env, "KETCH_SERVER": f"127.0.0.1:{port}"}, cwd=BENCH_DIR,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert client.stdin is not None and client.stdout is not None
        maps = []
        for _ in sizes:
            _, n, seconds = client.stdout.readline().split()
            maps.append({"inputs": int(n), "seconds": float(seconds),
                         "inputs_per_s": round(int(n) / float(seconds), 1),
                         "server_peak_mb": round(_peak_mb(server.pid), 1)})
            print(f"map of {int(n):>9,}: {maps[-1]['inputs_per_s']:>9,.0f} inputs/s, server "
                  f"peak {maps[-1]['server_peak_mb']:.0f} MB", flush=True)
            client.stdin.write("\n")
            client.stdin.flush()
        _, count, issued, returned = client.stdout.readline().split()
        spawned = {"calls": int(count), "issued_s": float(issued),
                   "all_returned_s": float(returned),
                   "server_peak_mb": round(_peak_mb(server.pid), 1)}
        print(f"{int(count):,} spawns: issued in {float(issued):.1f} s, all returned after "
              f"{float(returned):.1f} s", flush=True)
        if client.wait(timeout=600) != 0:
            raise RuntimeError("the scale client failed")
        return {"maps": maps, "spawns": spawned, "target_peak_mb": TARGET_MB}
    finally:
        server.terminate()
        server.wait(timeout=60)


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("ketch server did not start")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="map sizes, comma-separated (default 10k, 100k, 1M)")
    parser.add_argument("--spawns", type=int, default=10_000, help="calls spawned at once")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results" / "scale.json")
    args = parser.parse_args()
    result = run([int(n) for n in args.sizes.split(",")], args.spawns)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    peak = max(m["server_peak_mb"] for m in result["maps"])
    print(f"peak {peak:.0f} MB ({'within' if peak <= TARGET_MB else 'over'} the "
          f"{TARGET_MB} MB target); raw figures in {args.json}")


if __name__ == "__main__":
    main()
