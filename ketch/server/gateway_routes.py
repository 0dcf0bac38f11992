"""Which function serves a web endpoint's label, and whether a request may reach it.

A label names one endpoint of a running app: a function's, or a class's web method's. Where
both a deployed app and an app run by hand use it, the deployed one serves it. An endpoint with
``requires_proxy_auth`` wants a proxy token (`ketch token new --proxy`) in the Modal-Key and
Modal-Secret headers (or Ketch-Key and Ketch-Secret).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import exception
from ..protocol.handoff import PROXY_HEADERS

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import FunctionState

ANSWER_S = 300.0  # how long a container may take to answer, for functions without a timeout
UNAUTHORIZED = ("this endpoint needs a proxy token in the Modal-Key and Modal-Secret headers "
                "(make one with `ketch token new --proxy`)\n")


class Routes:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self._found: dict[str, tuple[FunctionState, str | None]] = {}

    def find(self, label: str) -> tuple[FunctionState | None, str | None]:
        """The function serving ``label`` (a deployed one first), and the class method."""
        cached = self._found.get(label)
        if cached is not None and cached[0].id in self.cp.functions and not (
                self.cp.apps[cached[0].app_id].stopped):
            return cached
        found: list[tuple[FunctionState, str | None]] = []
        for fn in self.cp.functions.values():
            if fn.params is not None or self.cp.apps[fn.app_id].stopped:
                continue
            if (fn.options.get("web") or {}).get("label") == label:
                found.append((fn, None))
            for method, web in (fn.options.get("web_methods") or {}).items():
                if web.get("label") == label:
                    found.append((fn, method))
        deployed = [pair for pair in found if pair[0].app_id in self.cp.deployments.versions]
        chosen = deployed or found
        if not chosen:
            return None, None
        self._found[label] = chosen[-1]
        return chosen[-1]

    def forget(self) -> None:
        """Apps changed (created, deployed, stopped): find labels afresh."""
        self._found.clear()

    def needs_token(self, fn: FunctionState) -> bool:
        settings = [fn.options.get("web") or {}, *(fn.options.get("web_methods") or {}).values()]
        return any(web.get("requires_proxy_auth") for web in settings)

    def authorized(self, fn: FunctionState, headers: dict[str, str]) -> bool:
        if not self.needs_token(fn):
            return True
        for key, secret in PROXY_HEADERS:
            if key in headers:
                try:
                    self.cp.tokens.verify(headers[key], headers.get(secret, ""), kind="proxy")
                    return True
                except exception.Error:
                    return False
        return False


def answer_s(fn: FunctionState) -> float:
    """How long a container may take to begin its answer: the function's timeout."""
    return float(fn.options.get("timeout") or ANSWER_S)
