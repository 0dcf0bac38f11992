"""The functions the benchmarks run.

They live at the top level of their own module because ketch containers import user code by
module name (as Modal's do), and `multiprocessing` workers unpickle functions by reference.
"""

from __future__ import annotations

from typing import Any

import ketch

app = ketch.App("bench")


@app.function()
def noop(x: Any = None) -> Any:
    return x


def plain_noop(x: Any = None) -> Any:
    """The same no-op for `multiprocessing.Pool`, which needs no decorator."""
    return x
