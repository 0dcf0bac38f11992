"""The overlay mounts that make a container's root filesystem (used by containers and by the
image builder's build containers alike)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def root_overlays(layers: list[str], scratch: Path) -> list[list[Any]]:
    """The overlays that make a container's root: the image's layers over the host, and
    ``scratch/upper`` on top.

    The kernel refuses lower layers nested inside one another, and the layers live inside the
    host's root. So the layers are first stacked into a read-only overlay of their own (whose
    root belongs to another filesystem), which then sits on the host as one lower layer.
    """
    lowers = ["/"]
    overlays: list[list[Any]] = []
    if layers:
        stack = list(reversed(layers))
        if len(stack) == 1:  # a read-only overlay needs two lower layers
            empty = Path(layers[0]).parent.parent / "empty"
            empty.mkdir(exist_ok=True)
            stack.append(str(empty))
        overlays.append([stack, None, None, str(scratch / "image")])
        lowers = [str(scratch / "image"), "/"]
    overlays.append([lowers, str(scratch / "upper"), str(scratch / "work"), str(scratch / "root")])
    return overlays
