"""A CPU-bound input that counts how much it gets done, for `burst_neighbour.py`."""

from __future__ import annotations

import time

import ketch

app = ketch.App("bench-neighbour")
SLOT_S = 0.1


@app.function(cpu=1.0, memory=64)
def spin(seconds: float) -> list[tuple[float, int]]:
    """Loop for ``seconds``; each `SLOT_S` slot's start (wall clock) and the loops run in it."""
    slots: list[tuple[float, int]] = []
    end = time.time() + seconds
    while time.time() < end:
        start, count = time.time(), 0
        while time.time() - start < SLOT_S:
            count += 1
        slots.append((start, count))
    return slots
