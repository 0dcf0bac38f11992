"""Keeps each piece of the control plane's periodic work apart from the others' failures.

Every tick serves each function (feeds its inputs, scales it) and then runs the other periodic
steps (heartbeats, schedules, flushes, expiry). A piece that raises must stop neither the other
functions nor the other steps, and must not flood the log five times a second: its failure is
logged once, with its traceback, and again only after it has recovered and failed anew.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

log = logging.getLogger("ketch")


class TickGuard:
    """Example::

        guard = TickGuard()
        for fn in functions:
            with guard.piece(fn.id, f"scaling function {fn.name}"):
                scale(fn)
    """

    def __init__(self) -> None:
        self.failing: set[str] = set()  # the keys of the pieces whose last run raised

    @contextlib.contextmanager
    def piece(self, key: str, what: str) -> Iterator[None]:
        """Run the body as the piece ``key``; an exception in it is logged (once) and kept
        from the caller, so the tick goes on."""
        try:
            yield
        except Exception:
            if key not in self.failing:
                self.failing.add(key)
                log.exception("control plane tick: %s failed (the other work goes on; this is "
                              "retried every tick and logged again only once it has recovered)",
                              what)
        else:
            self.failing.discard(key)
