"""What a running app shows the person at the terminal: its containers' output, prefixed.

Example::

    with ketch.enable_output():
        with app.run():
            square.remote(2)   # prints "[square ct-1a2b] working on 2"
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

_enabled = False


@contextlib.contextmanager
def enable_output(show_progress: bool = True) -> Iterator[None]:
    """Stream the output of the app's containers to this terminal while the block runs."""
    global _enabled
    previous, _enabled = _enabled, True
    try:
        yield
    finally:
        _enabled = previous


def is_enabled() -> bool:
    return _enabled


def _style(stream: Any) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def show_line(function: str, container_id: str, stream: str, text: str) -> None:
    """One line of a container's output; one that ended with ``\\r`` (a progress bar's state)
    is drawn over by the next on a terminal, and is a line of its own elsewhere."""
    out = sys.stderr if stream == "stderr" else sys.stdout
    label = f"{function} {container_id[-4:]}" if container_id else function
    redrawn = text.endswith("\r")
    text = text.removesuffix("\r")
    if _style(out):
        # erase what a longer line drawn here before left to the right of this one
        out.write(f"\x1b[2m[{label}]\x1b[0m {text}\x1b[K" + ("\r" if redrawn else "\n"))
    else:
        out.write(f"[{label}] {text}\n")
    out.flush()
