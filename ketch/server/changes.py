"""What changed in the control plane, for live pages that must not poll it.

Each place where something a page shows changes notes it here with a kind (``apps``, ``calls``,
``containers``, ``sandboxes``) and, where it has one, the app's id. Noting is a counter bump
and, only while someone listens, a wake-up: the data path pays almost nothing whether or not a
dashboard is open. A listener keeps the version it has seen and is told which (kind, app)
pairs changed since.

Example::

    changes.note("calls", "ap-1")
    version, changed = await changes.since(seen, timeout=15.0)  # {("calls", "ap-1")}
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .wakeup import Wakeup

Key = tuple[str, str]


class Changes:
    def __init__(self) -> None:
        self.version = 0
        self._last: dict[Key, int] = {}  # (kind, app id): the version of its latest change
        self._wakeup = Wakeup()
        self.watchers = 0  # live pages' streams open now

    def note(self, kind: str, app_id: str = "") -> None:
        self.version += 1
        self._last[kind, app_id] = self.version
        if self._wakeup.waiting:
            self._wakeup.wake()

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Count a live page's stream in `watchers` while it is open."""
        self.watchers += 1
        try:
            yield
        finally:
            self.watchers -= 1

    async def since(self, seen: int, timeout: float | None) -> tuple[int, set[Key]]:
        """The current version and what changed after ``seen``; waits up to ``timeout`` for
        a change when there is none yet."""
        if self.version == seen and timeout != 0:
            await self._wakeup.wait(timeout)
        return self.version, {key for key, version in self._last.items() if version > seen}
