"""Which function serves a web endpoint's label, and whether a request may reach it.

A label names one endpoint of a running app: a function's, or a class's web method's. Labels
are one namespace for the whole server, as host names are: an endpoint of an app in
environment ``main`` is served under its own label, one of another environment under
``<environment>--<label>`` (`served_label`), as Modal puts a workspace's environment before the
``--<label>`` of its URLs. Within an environment, where both a deployed app and an app run by
hand use a label, the deployed one serves it; across environments a label served already is
refused (`check`). An endpoint with ``requires_proxy_auth`` wants a proxy token (`ketch token
new --proxy`, valid in every environment) in the Modal-Key and Modal-Secret headers (or
Ketch-Key and Ketch-Secret).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import exception
from ..protocol.handoff import PROXY_HEADERS
from .environments import DEFAULT

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import FunctionState

ANSWER_S = 300.0  # how long a container may take to answer, for functions without a timeout
UNAUTHORIZED = ("this endpoint needs a proxy token in the Modal-Key and Modal-Secret headers "
                "(make one with `ketch token new --proxy`)\n")
MAX_LABEL = 63  # a DNS label's length


def served_label(label: str, environment: str) -> str:
    """The name an endpoint's ``label`` is served under, for an app in ``environment``.

    >>> served_label("shop-api", "main"), served_label("shop-api", "Dev_2")
    ('shop-api', 'dev-2--shop-api')
    """
    if environment == DEFAULT:
        return label
    prefix = re.sub(r"[^a-z0-9-]+", "-", environment.lower()).strip("-")
    name = f"{prefix}--{label}"
    if len(name) <= MAX_LABEL:
        return name
    digest = hashlib.sha256(f"{environment}\0{label}".encode()).hexdigest()[:6]
    return f"{name[:MAX_LABEL - 7].rstrip('-')}-{digest}"


class Routes:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self._found: dict[str, tuple[FunctionState, str | None]] = {}

    def label_of(self, fn: FunctionState, method: str | None = None) -> str:
        """The name ``fn``'s endpoint (``method``'s, for a class) is served under."""
        web = fn.options["web_methods"][method] if method else fn.options["web"]
        return served_label(web["label"], self.cp.state.app_of(fn).environment)

    def find(self, label: str) -> tuple[FunctionState | None, str | None]:
        """The function serving ``label`` (a deployed one first), and the class method."""
        state = self.cp.state
        cached = self._found.get(label)
        if cached is not None and cached[0].id in state.functions and not (
                state.app_of(cached[0]).stopped):
            return cached
        found = [(fn, method) for fn, method, served in self._endpoints() if served == label]
        deployed = [pair for pair in found if pair[0].app_id in self.cp.deployments.versions]
        chosen = deployed or found
        if not chosen:
            return None, None
        self._found[label] = chosen[-1]
        return chosen[-1]

    def check(self, fn: FunctionState) -> None:
        """Refuse a new function whose endpoint would be served under a label that an app of
        another environment serves."""
        environment = self.cp.state.app_of(fn).environment
        mine = {self.label_of(fn, method) for method in _methods(fn)}
        for other, _, served in self._endpoints():
            other_environment = self.cp.state.app_of(other).environment
            if served in mine and other_environment != environment:
                app = self.cp.state.app_of(other)
                raise exception.InvalidError(
                    f"web endpoint label {served!r} of {fn.name!r} is served already by app "
                    f"{app.name!r} in environment {other_environment!r}; give the endpoint "
                    "another label= (docs/web.md: labels across environments)")

    def _endpoints(self) -> Iterator[tuple[FunctionState, str | None, str]]:
        """Every endpoint of a running app: its function, class method and served label."""
        for fn in list(self.cp.state.functions.values()):
            if fn.params is None and not self.cp.state.app_of(fn).stopped:
                for method in _methods(fn):
                    yield fn, method, self.label_of(fn, method)

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


def _methods(fn: FunctionState) -> list[str | None]:
    """A function's endpoints: None for its own, a class's web methods by name."""
    own: list[str | None] = [None] if fn.options.get("web") else []
    return own + list(fn.options.get("web_methods") or {})


def answer_s(fn: FunctionState) -> float:
    """How long a container may take to begin its answer: the function's timeout."""
    return float(fn.options.get("timeout") or ANSWER_S)
