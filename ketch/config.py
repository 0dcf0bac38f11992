"""Where ketch keeps its state and which control plane it talks to.

- ``KETCH_HOME``: the state directory (default ``~/.ketch``): the SQLite file, blobs.
- ``KETCH_SERVER``: the address of a standalone control plane (``host:port``); unset means a
  control plane is embedded in the process for the length of the run.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def home() -> Path:
    from pathlib import Path  # only the control plane needs it; containers start faster without

    return Path(os.environ.get("KETCH_HOME") or Path.home() / ".ketch").expanduser()


def server_address() -> str | None:
    return os.environ.get("KETCH_SERVER") or None


def max_containers() -> int | None:
    value = os.environ.get("KETCH_MAX_CONTAINERS")
    return int(value) if value else None
