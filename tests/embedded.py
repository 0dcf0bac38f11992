"""Helpers for tests that look into the control plane a `with app.run()` embeds in the test."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ketch import client, synchronizer


def control_plane() -> Any:
    """The embedded control plane of the current client."""
    return synchronizer.run(client.get_client()).transport.control_plane


def wait_for(predicate: Callable[[], object], timeout: float) -> bool:
    """Whether ``predicate`` came true within ``timeout`` seconds (polled every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
