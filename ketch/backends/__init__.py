"""Runtime drivers: how a worker turns a container spec into running processes.

Every driver implements `ketch.backends.base.Driver`; `get_driver` picks one by name.
"""

from __future__ import annotations

from .base import Capabilities, Driver, TaskHandle


def get_driver(name: str) -> Driver:
    from .. import exception

    if name == "process":
        from .process import ProcessDriver

        return ProcessDriver()
    raise exception.InvalidError(
        f"unknown runtime {name!r}: this ketch knows the runtime 'process'"
    )


__all__ = ["Capabilities", "Driver", "TaskHandle", "get_driver"]
