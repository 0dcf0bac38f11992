"""Check memory snapshots on a machine with an NVIDIA GPU and torch (with CUDA) installed.

Run as root (the namespace runtime): ``python scripts/snapshot_torch_check.py [samples]``.
Two classes whose module imports torch, one with ``enable_memory_snapshot=True``: each loads a
small model on the CPU in its ``@enter(snap=True)`` hook (the snapshot must not touch CUDA),
moves it to the GPU in ``@enter(snap=False)``, and answers one forward pass. For each, it times
from no container (a fresh ``app.run()``) to the first result, medians over the samples (the
first run of the snapshot class makes its zygote and is not counted).

Targets (issue: cold starts): with snapshot ≤ 0.6 s, without ≥ 4 s on a machine where
``import torch`` takes 4–6 s. It exits 1 if a result is wrong.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

import ketch

app = ketch.App("snapshot-torch-check")


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.ReLU(), torch.nn.Linear(512, 8))


class _Forward:
    def load(self) -> None:
        self.model = _model()  # on the CPU: no CUDA before the snapshot

    def to_gpu(self) -> None:
        self.model = self.model.to("cuda")

    def run(self) -> list[float]:
        x = torch.ones(1, 512, device="cuda")
        return self.model(x).detach().cpu()[0].tolist()


@app.cls(gpu="any", runtime="namespace", enable_memory_snapshot=True)
class WithSnapshot(_Forward):
    @ketch.enter(snap=True)
    def load_cpu(self) -> None:
        self.load()

    @ketch.enter(snap=False)
    def load_gpu(self) -> None:
        self.to_gpu()

    @ketch.method()
    def forward(self) -> list[float]:
        return self.run()


@app.cls(gpu="any", runtime="namespace")
class WithoutSnapshot(_Forward):
    @ketch.enter()
    def load_all(self) -> None:
        self.load()
        self.to_gpu()

    @ketch.method()
    def forward(self) -> list[float]:
        return self.run()


def first_result(cls: type) -> tuple[float, list[float]]:
    with app.run():
        start = time.perf_counter()
        out = cls().forward.remote()
        return time.perf_counter() - start, out


def main() -> int:
    samples = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    expected = _model()(torch.ones(1, 512))[0].tolist()
    first_result(WithSnapshot)  # makes the zygote
    ok = True
    for cls in (WithSnapshot, WithoutSnapshot):
        times = []
        for _ in range(samples):
            seconds, out = first_result(cls)
            times.append(seconds)
            ok &= all(abs(a - b) < 1e-3 for a, b in zip(out, expected))
        print(f"{cls.__name__}: first result from no container, p50 {statistics.median(times):.3f} s"
              f" ({', '.join(f'{t:.3f}' for t in times)})")
    print("results", "match" if ok else "DIFFER", "the CPU's")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
