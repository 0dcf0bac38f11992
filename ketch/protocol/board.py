"""The running board: which inputs a container is running, readable after it dies.

The agent writes the key of each input it starts into a slot of a small memory-mapped file
and clears the slot when the input ends (a memory write, no system call). When the container
dies without a word (SIGKILL, a segfault, the OOM killer) the worker reads the board, so only
the inputs that were really running are charged for the death; the rest are requeued.
"""

from __future__ import annotations

import mmap
import os
import threading

SLOT = 96
SLOTS = 64
SIZE = SLOT * SLOTS


def create(path: str) -> None:
    with open(path, "wb") as f:
        f.write(b"\0" * SIZE)


def read(path: str) -> list[tuple[str, int]]:
    """The ``(call_id, index)`` keys left on the board at ``path``."""
    try:
        with open(path, "rb") as f:
            data = f.read(SIZE)
    except OSError:
        return []
    keys = []
    for slot in range(SLOTS):
        raw = data[slot * SLOT:(slot + 1) * SLOT].rstrip(b"\0")
        if raw:
            call_id, _, index = raw.decode().rpartition(":")
            keys.append((call_id, int(index)))
    return keys


class Board:
    """The agent's side. Without a path (no worker asked for one) it records nothing."""

    def __init__(self, path: str | None) -> None:
        self._map: mmap.mmap | None = None
        if path:
            fd = os.open(path, os.O_RDWR)
            try:
                self._map = mmap.mmap(fd, SIZE)
            finally:
                os.close(fd)
        self._free = list(range(SLOTS - 1, -1, -1))
        self._lock = threading.Lock()

    def start(self, call_id: str, index: int) -> int:
        if self._map is None:
            return -1
        with self._lock:
            if not self._free:
                return -1
            slot = self._free.pop()
        entry = f"{call_id}:{index}".encode()[:SLOT]
        self._map[slot * SLOT:(slot + 1) * SLOT] = entry.ljust(SLOT, b"\0")
        return slot

    def end(self, slot: int) -> None:
        if slot < 0 or self._map is None:
            return
        self._map[slot * SLOT:(slot + 1) * SLOT] = b"\0" * SLOT
        with self._lock:
            self._free.append(slot)
