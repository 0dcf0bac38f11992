"""Where a sandbox process's output goes, as Modal's ``modal.stream_type``."""

from __future__ import annotations

import enum


class StreamType(enum.Enum):
    """``PIPE``: kept for the caller to read (the default). ``DEVNULL``: dropped.
    ``STDOUT``: printed to this program's stdout as it arrives."""

    PIPE = "pipe"
    DEVNULL = "devnull"
    STDOUT = "stdout"
