"""Small statistics helpers: no numpy, so the benchmark needs nothing beyond ketch and Ray."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), interpolated linearly between ranks as numpy does."""
    if not samples:
        raise ValueError("percentile of no samples")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> float:
    """Seconds as milliseconds, rounded to the microsecond so the JSON stays readable."""
    return round(seconds * 1000.0, 3)
