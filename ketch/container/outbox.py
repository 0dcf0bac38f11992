"""Output records waiting to go to the control plane, sent in batches."""

from __future__ import annotations

import threading
import time

from ..protocol import container as wire
from ..protocol.blocking_peer import BlockingPeer

MAX_BATCH = 128
MAX_AGE_S = 0.002


class Outbox:
    def __init__(self, peer: BlockingPeer) -> None:
        self._peer = peer
        self._lock = threading.Lock()
        self._records: list[wire.Output] = []
        self._since = 0.0

    def add(self, record: wire.Output, *, flush: bool) -> None:
        with self._lock:
            if not self._records:
                self._since = time.monotonic()
            self._records.append(record)
            if flush or len(self._records) >= MAX_BATCH:
                self._send()

    def flush(self, *, stale_only: bool = False) -> None:
        with self._lock:
            if self._records and (not stale_only or time.monotonic() - self._since > MAX_AGE_S):
                self._send()

    def _send(self) -> None:
        records, self._records = self._records, []
        self._peer.send(wire.OUTPUTS, records)
