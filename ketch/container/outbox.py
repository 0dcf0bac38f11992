"""Output records waiting to go to the control plane, sent in batches.

A record added without ``flush`` waits at most `MAX_AGE_S` for others to join it; the agent's
watcher sends it then (`stale_at` says when), woken by ``wake`` as the first one arrives.
"""

from __future__ import annotations

import math
import threading
import time

from ..protocol import container as wire
from ..protocol.blocking_peer import BlockingPeer

MAX_BATCH = 128
MAX_AGE_S = 0.002


class Outbox:
    def __init__(self, peer: BlockingPeer, wake: threading.Event | None = None) -> None:
        self._peer = peer
        self._wake = wake
        self._lock = threading.Lock()
        self._records: list[wire.Output] = []
        self._since = 0.0

    def add(self, record: wire.Output, *, flush: bool) -> None:
        with self._lock:
            first = not self._records
            if first:
                self._since = time.monotonic()
            self._records.append(record)
            if flush or len(self._records) >= MAX_BATCH:
                self._send()
            elif first and self._wake is not None:
                self._wake.set()

    def flush(self, *, stale_only: bool = False) -> None:
        with self._lock:
            if self._records and (not stale_only or time.monotonic() - self._since > MAX_AGE_S):
                self._send()

    def stale_at(self) -> float:
        """When the oldest waiting record is due to go (`time.monotonic`); inf with none."""
        with self._lock:
            return self._since + MAX_AGE_S if self._records else math.inf

    def _send(self) -> None:
        records, self._records = self._records, []
        self._peer.send(wire.OUTPUTS, records)
