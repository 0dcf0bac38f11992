"""Does a burst of container starts starve an input already running? k)'s burst of 100, while a
CPU-bound input of another app (``cpu=1.0``, `neighbour.spin`) counts loops in 0.1 s slots.

    python bench/burst_neighbour.py --repeat 3 --json /tmp/neighbour.json

For each repeat it reports the input's loops per slot in the 1.5 s before the burst and from
the burst's issue to its last container's first input, as medians, and their ratio: 1.0 means
the burst took nothing from it. The input asks for a whole CPU and the burst's containers for
0.01 each, so the kernel should give the input most of a CPU while they start (and the burst's
starts, which are CPU work in their own cgroups, what is left). The raw slots go to the JSON. A first burst, untimed, starts the zygote, as
k)'s does.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any

os.environ["KETCH_HOME"] = tempfile.mkdtemp(prefix="ketch-bench-")  # as bench/run.py: embedded
os.environ.pop("KETCH_SERVER", None)

import neighbour  # noqa: E402  (after KETCH_HOME is set)
import workloads  # noqa: E402

LEAD_S = 1.5  # the input's pace alone, before the burst


def one(spin_s: float) -> dict[str, Any]:
    with neighbour.app.run():
        call = neighbour.spin.spawn(spin_s)
        time.sleep(spin_s / 3)  # its container starts, then it runs alone for a while
        with workloads.burst_app.run():
            issued = time.time()
            results = workloads.sleep_where.map([workloads.BURST_INPUT_S] * workloads.BURST_CONTAINERS)
            last = max(started for _, started in results)
        slots = call.get()
    alone = [n for t, n in slots if issued - LEAD_S <= t < issued]
    during = [n for t, n in slots if issued <= t < last]
    return {"alone_per_slot": statistics.median(alone), "burst_per_slot": statistics.median(during),
            "ratio": round(statistics.median(during) / statistics.median(alone), 3),
            "burst_s": round(last - issued, 3), "issued": issued, "slots": slots}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--spin-s", type=float, default=9.0)
    parser.add_argument("--json", default="bench/results/neighbour.json")
    args = parser.parse_args()
    with workloads.burst_app.run():  # thrown away, as k)'s first burst: the zygote starts
        list(workloads.sleep_where.map([workloads.BURST_INPUT_S] * workloads.BURST_CONTAINERS))
    time.sleep(1.0)
    runs = []
    for i in range(args.repeat):
        runs.append(one(args.spin_s))
        print(f"{i + 1}/{args.repeat}: loops per slot alone {runs[-1]['alone_per_slot']:,.0f}, "
              f"during the burst {runs[-1]['burst_per_slot']:,.0f} (ratio {runs[-1]['ratio']}), "
              f"burst {runs[-1]['burst_s']} s", flush=True)
        time.sleep(1.0)
    with open(args.json, "w") as f:
        json.dump({"ratio": statistics.median(r["ratio"] for r in runs), "runs": runs}, f)


if __name__ == "__main__":
    main()
