"""`Probe`: when a sandbox is ready, as Modal's ``modal.Probe``.

Example::

    sb = ketch.Sandbox.create("python", "-m", "http.server", "8080", app=app,
                              readiness_probe=ketch.Probe.with_tcp(8080))
    sb.wait_until_ready()
"""

from __future__ import annotations

from typing import Any

from . import exception


class Probe:
    def __init__(self, kind: str, target: Any, interval_ms: int) -> None:
        if isinstance(interval_ms, bool) or not isinstance(interval_ms, int) or interval_ms <= 0:
            raise exception.InvalidError(f"interval_ms must be a positive int, not {interval_ms!r}")
        self.kind = kind
        self.target = target
        self.interval_ms = interval_ms

    @staticmethod
    def with_tcp(port: int, *, interval_ms: int = 100) -> Probe:
        """Ready once something inside the sandbox accepts connections on ``port``."""
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise exception.InvalidError(f"a probe's port is an int from 1 to 65535, not {port!r}")
        return Probe("tcp", port, interval_ms)

    @staticmethod
    def with_exec(*argv: str, interval_ms: int = 100) -> Probe:
        """Ready once ``argv``, run in the sandbox, exits with status 0."""
        if not argv or not all(isinstance(a, str) for a in argv):
            raise exception.InvalidError("Probe.with_exec takes the command as strings, as in "
                                         "Probe.with_exec(\"test\", \"-f\", \"/ready\")")
        return Probe("exec", list(argv), interval_ms)

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "interval_ms": self.interval_ms}
