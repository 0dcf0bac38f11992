"""Slow functions whose calls a test spawns, then kills the control plane under them.

Each input touches ``<marks>/<name>-<x>`` when it starts, so the test knows it is running (the
process runtime shares the host's files).
"""

import pathlib
import time

import ketch

app = ketch.App("durable")


def _mark(marks: str, name: str, x: int) -> None:
    (pathlib.Path(marks) / f"{name}-{x}").touch()


@app.function(retries=ketch.Retries(max_retries=2, initial_delay=0.0), runtime="process")
def retried(x: int, marks: str, seconds: float = 4.0) -> int:
    _mark(marks, "retried", x)
    time.sleep(seconds)
    return x * 10


@app.function(max_containers=1, runtime="process")
def once(x: int, marks: str, seconds: float = 4.0) -> int:
    _mark(marks, "once", x)
    time.sleep(seconds)
    return x * 10
