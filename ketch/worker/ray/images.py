"""Images on a Ray cluster: each node builds the layers it needs under its own KETCH_HOME.

A layer's directory is named by the hash of its parent and its step, so a node that builds an
image's steps gets the very image that was hashed, or finds it already built. The control
plane builds each image once on some node when the function is created (so that a failing step
is reported at ``ketch run``, not in a container), and every container's actor builds, or finds,
the same layers on its own node before it starts. With ``KETCH_HOME/images`` on a path the
nodes share, the layers are built once for the whole cluster (a per-layer file lock keeps two
nodes from building the same one).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Iterator
from typing import Any

from ... import config
from ..images import Builder


def node_builder() -> Builder:
    home = config.home()
    return Builder(home / "images", hide=[str(home)])


def build_on_node(steps: list[dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """Build an image on the node this runs on (a Ray task): yields ``("log", line)`` as the
    build goes, then ``("built", image)`` or ``("failed", message)``."""
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    result: dict[str, Any] = {}

    def build() -> None:
        try:
            result["image"] = asyncio.run(node_builder().build(steps, lines.put)).to_wire()
        except Exception as exc:  # reported to the control plane, which raises it there
            result["error"] = str(exc)
        finally:
            lines.put(None)

    threading.Thread(target=build, daemon=True).start()
    while (line := lines.get()) is not None:
        yield ("log", line)
    yield ("built", result["image"]) if "image" in result else ("failed", result["error"])
