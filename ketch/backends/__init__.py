"""Runtime drivers: how a worker turns a container spec into running processes.

Every driver implements `ketch.backends.base.Driver`; `get_driver` picks one by name.
"""

from __future__ import annotations

from .base import Capabilities, Driver, TaskHandle, TaskStats

RUNTIMES = ("namespace", "process", "gvisor")


def get_driver(name: str, zygotes: bool | None = None) -> Driver:
    """The driver for a runtime name, checked to work on this machine. ``zygotes``: whether
    the namespace runtime forks containers from zygotes (None: as configured)."""
    from .. import config, exception

    driver: Driver
    if name == "process":
        from .process import ProcessDriver

        driver = ProcessDriver()
    elif name == "namespace":
        from .namespace import NamespaceDriver

        driver = NamespaceDriver(config.home() / "containers", masks=[str(config.home())],
                                 zygotes=config.zygotes_enabled() if zygotes is None else zygotes)
    elif name == "gvisor":
        from .gvisor import GvisorDriver

        driver = GvisorDriver(config.home() / "containers", masks=[str(config.home())])
    else:
        raise exception.InvalidError(
            f"unknown runtime {name!r}: use one of {', '.join(RUNTIMES)}"
        )
    problem = driver.fingerprint()
    if problem is not None:
        raise exception.InvalidError(f"the {name} runtime cannot run here: {problem}")
    return driver


def default_runtime() -> str:
    """``KETCH_RUNTIME``, else ``runtime`` in ``config.toml``; else ``namespace`` where it
    works (root on Linux), else ``process``."""
    import os

    from .. import config
    from .namespace import NamespaceDriver

    chosen = os.environ.get("KETCH_RUNTIME") or config.settings().get("runtime")
    if chosen:
        return str(chosen)
    probe = NamespaceDriver(config.home() / "containers", masks=[])
    return "namespace" if probe.fingerprint() is None else "process"


def sandbox_runtime() -> str:
    """``KETCH_SANDBOX_RUNTIME``, else ``sandbox_runtime`` in ``config.toml``; else ``gvisor``
    where runsc works here, else the hardened ``namespace`` runtime."""
    import os

    from .. import config, exception

    chosen = os.environ.get("KETCH_SANDBOX_RUNTIME") or config.settings().get("sandbox_runtime")
    if chosen:
        return str(chosen)
    problems = []
    for name in ("gvisor", "namespace"):
        try:
            get_driver(name, zygotes=False)
            return name
        except exception.InvalidError as exc:
            problems.append(str(exc))
    raise exception.InvalidError(
        "sandboxes need an isolating runtime and none works here: " + "; ".join(problems))


__all__ = [
    "RUNTIMES", "Capabilities", "Driver", "TaskHandle", "TaskStats", "default_runtime",
    "get_driver", "sandbox_runtime",
]
