"""Sandbox memory snapshots on gVisor: how long a snapshot takes, and a restore against the
cold start it saves, in one run.

    python bench/snapshot_bench.py                    # 5 of each, 64 MiB of state
    python bench/snapshot_bench.py --count 10 --state-mib 256 --json /tmp/snap.json

The sandbox runs a Python that imports a few modules, fills ``--state-mib`` MiB of memory and
then answers each line of its stdin with a count. Measured, ``--count`` times each:

  snapshot  ``sb._experimental_snapshot()`` of that sandbox (it pauses meanwhile), and the size
            of what was saved;
  restore   ``Sandbox._experimental_from_snapshot()`` until the restored process answers;
  cold      the peer: ``Sandbox.create()`` of the same program, spares off, until it answers
            (the interpreter's start, the imports and filling the memory again).

The ratio restore / cold (p50) is what a snapshot saves.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from stats import median, ms  # noqa: E402

PROGRAM = """
import os, sys, json, decimal, email.parser, http.client, asyncio, sqlite3
state = bytearray(os.urandom(1 << 20)) * {mib}  # incompressible
count = 0
for line in sys.stdin:
    count += 1
    print(count, len(state) >> 20, flush=True)
"""


def answer(sb: Any) -> str:
    sb.stdin.write("tick\n")
    sb.stdin.drain()
    return str(next(iter(sb.stdout))).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--state-mib", type=int, default=64)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("KETCH_HOME", tempfile.mkdtemp(prefix="ketch-snapshot-bench-"))
    os.environ["KETCH_SANDBOX_SPARES"] = "0"  # the cold peer starts from nothing
    import ketch

    app = ketch.App.lookup("snapshot-bench", create_if_missing=True)
    command = ["python3", "-c", PROGRAM.format(mib=args.state_mib)]
    memory = args.state_mib + 256
    cold, snapshot, restore, sizes = [], [], [], []
    for _ in range(args.count):
        started = time.perf_counter()
        sb = ketch.Sandbox.create(*command, app=app, runtime="gvisor", memory=memory,
                                  _experimental_enable_snapshot=True)
        assert answer(sb).startswith("1 "), "the program did not answer"
        cold.append(time.perf_counter() - started)
        started = time.perf_counter()
        taken = sb._experimental_snapshot()
        snapshot.append(time.perf_counter() - started)
        folder = Path(os.environ["KETCH_HOME"]) / "snapshots" / taken.object_id
        sizes.append(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()))
        started = time.perf_counter()
        copy = ketch.Sandbox._experimental_from_snapshot(taken)
        assert answer(copy).startswith("2 "), "the restored program did not count on"
        restore.append(time.perf_counter() - started)
        for each in (sb, copy):
            each.terminate()
    result = {"state_mib": args.state_mib, "cold_ms": [ms(s) for s in cold],
              "snapshot_ms": [ms(s) for s in snapshot], "restore_ms": [ms(s) for s in restore],
              "snapshot_mib": [round(s / 2**20, 1) for s in sizes]}
    print(f"state {args.state_mib} MiB, {args.count} each (p50):")
    print(f"  cold start to first answer   {ms(median(cold)):9.1f} ms   (the peer)")
    print(f"  restore to first answer      {ms(median(restore)):9.1f} ms   "
          f"{median(restore) / median(cold):.2f}x cold")
    print(f"  snapshot                     {ms(median(snapshot)):9.1f} ms   "
          f"{median(sizes) / 2**20:.1f} MiB saved")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
