"""The sandbox runtimes this machine can run, for tests that run on each of them."""

from __future__ import annotations

import pytest

from ketch import exception
from ketch.backends import get_driver


def usable(name: str) -> str | None:
    """None when the runtime works here, else why not."""
    try:
        get_driver(name, zygotes=False)
    except exception.InvalidError as exc:
        return str(exc)
    return None


RUNTIMES = [
    pytest.param(name, marks=pytest.mark.skipif(usable(name) is not None,
                                                reason=f"{name}: {usable(name)}"))
    for name in ("namespace", "gvisor")
]
