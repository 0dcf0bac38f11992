"""l) and m) A function whose module imports numpy and pandas, so that its container's start pays for
them. A module of its own, so that importing `workloads` does not import pandas; the bench
imports it only when l) runs (it needs `pip install numpy pandas`).
"""

from __future__ import annotations

import numpy
import pandas

import ketch

app = ketch.App("bench-heavy")


@app.function()
def versions() -> str:
    return f"numpy {numpy.__version__}, pandas {pandas.__version__}"


@app.function(enable_memory_snapshot=True)
def versions_snapshot() -> str:
    """m) The same, with a memory snapshot: containers fork from a zygote that imported both."""
    return f"numpy {numpy.__version__}, pandas {pandas.__version__}"
