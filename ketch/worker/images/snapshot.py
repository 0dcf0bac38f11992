"""A sandbox's files as an image layer: what ``Sandbox.snapshot_filesystem`` makes.

The layer is the sandbox's writable (upper) layer as it is now, copied with its overlay
whiteouts, so that an image built on it shows what the sandbox saw, deletions included. A
whiteout in an image layer hides only what lies in the layers below it, not the host's root
beneath them all, so the layer's meta lists them too (``whiteouts``), and every container on
the image gets them again in its own upper layer (`ketch.backends.rootfs.whiteout`). The
entries ketch put there to hide the host's data from the sandbox are left out: the image hides
nothing of the host by itself (a sandbox started from it hides that data again).
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import stat
from pathlib import Path

from .layers import LayerStore


async def snapshot_layer(store: LayerStore, upper: Path, hidden: list[str], source: str) -> str:
    """Copy ``upper`` into a new layer of ``store``, less the ``hidden`` host paths; its id."""
    layer = f"snapshot-{secrets.token_hex(16)}"
    tmp = store.scratch(layer)
    try:
        copy = await asyncio.create_subprocess_exec(
            "cp", "-a", f"{upper}/.", str(tmp / "fs"), stderr=asyncio.subprocess.PIPE)
        _, err = await copy.communicate()
        if copy.returncode != 0:
            raise OSError(f"copying the sandbox's files failed: {err.decode().strip()}")
        await asyncio.to_thread(_unhide, tmp / "fs", hidden)
        deleted = await asyncio.to_thread(_whiteouts, tmp / "fs")
    except BaseException:
        store.discard(tmp)
        raise
    store.commit(layer, tmp, {"step": f"snapshot of {source}", "kind": "snapshot",
                              "whiteouts": deleted})
    return layer


def _whiteouts(fs: Path) -> list[str]:
    """The paths the layer deletes, absolute."""
    found = []
    for folder, dirs, files in os.walk(fs):
        for name in files + dirs:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:
                found.append("/" + os.path.relpath(path, fs))
    return sorted(found)


def _unhide(fs: Path, hidden: list[str]) -> None:
    for path in hidden:
        target = fs / path.lstrip("/")
        try:
            info = os.lstat(target)
        except (FileNotFoundError, NotADirectoryError):  # gone, or a folder above it deleted
            continue
        if os.path.isdir(target):
            try:
                os.removexattr(target, "trusted.overlay.opaque")
            except OSError as exc:
                if exc.errno != errno.ENODATA:
                    raise
            if not os.listdir(target):
                os.rmdir(target)
        elif stat.S_ISCHR(info.st_mode) and info.st_rdev == 0:  # a whiteout
            os.unlink(target)
