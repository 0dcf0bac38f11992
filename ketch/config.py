"""Where ketch keeps its state and which control plane it talks to.

- ``KETCH_HOME``: the state directory (default ``~/.ketch``): the SQLite file, blobs.
- ``KETCH_SERVER``: the address of a standalone control plane (``host:port``); unset means a
  control plane is embedded in the process for the length of the run.
- ``KETCH_RUNTIME``: the default runtime (else ``runtime`` in ``config.toml``, else automatic).
- ``KETCH_HOME/config.toml``: settings; see `settings`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

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


def settings() -> dict[str, Any]:
    """``KETCH_HOME/config.toml``, or {} when there is none.

    Example file::

        runtime = "namespace"          # the default runtime for functions
        [prices]                       # dollars per second, overriding the defaults
        cpu = 0.0000131                # per core
        memory = 0.00000222            # per GiB
        H100 = 0.001097                # per GPU, by Modal's GPU names
    """
    import tomllib

    path = home() / "config.toml"
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        from . import exception

        raise exception.InvalidError(f"{path} is not valid TOML: {exc}") from exc
