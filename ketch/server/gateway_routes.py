"""Which function serves a web endpoint's label, and whether a request may reach it.

A label names one endpoint of a running app: a function's, or a class's web method's. Labels
are one namespace for the whole server, as host names are: an endpoint is served under
``<label>--<suffix>`` (`served_label`), the suffix its environment's web suffix (its name,
unless set with ``ketch environment update --set-web-suffix``; none in ``main``), as Modal's
URLs carry an environment's web suffix. Within an environment, where both a deployed app and an
app run by hand use a label, the deployed one serves it; across environments a label served
already is refused, to a new function (`check`) and to a new web suffix (`check_suffix`). An
endpoint with ``requires_proxy_auth`` wants a proxy token (`ketch token new --proxy`) allowed
its environment in the Modal-Key and Modal-Secret headers (or Ketch-Key and Ketch-Secret).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .. import exception
from ..protocol.handoff import PROXY_HEADERS

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .dispatch import FunctionState

ANSWER_S = 300.0  # how long a container may take to answer, for functions without a timeout
UNAUTHORIZED = ("this endpoint needs a proxy token in the Modal-Key and Modal-Secret headers "
                "(make one with `ketch token new --proxy`)\n")
MAX_LABEL = 63  # a DNS label's length


def served_label(label: str, suffix: str) -> str:
    """The name an endpoint's ``label`` is served under, in an environment of web ``suffix``.

    >>> served_label("shop-api", ""), served_label("shop-api", "Dev_2")
    ('shop-api', 'shop-api--dev-2')
    """
    if not suffix:
        return label
    name = f"{label}--{re.sub(r'[^a-z0-9-]+', '-', suffix.lower()).strip('-')}"
    if len(name) <= MAX_LABEL:
        return name
    digest = hashlib.sha256(f"{label}\0{suffix}".encode()).hexdigest()[:6]
    return f"{name[:MAX_LABEL - 7].rstrip('-')}-{digest}"


class Routes:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self._found: dict[str, tuple[FunctionState, str | None]] = {}

    def label_of(self, fn: FunctionState, method: str | None = None,
                 suffix: str | None = None) -> str:
        """The name ``fn``'s endpoint (``method``'s, for a class) is served under (with its
        environment's web suffix, or ``suffix``)."""
        web = (fn.options.web_methods or {})[method] if method else fn.options.web or {}
        if suffix is None:
            suffix = self.cp.environments.web_suffix(self.cp.state.app_of(fn).environment)
        return served_label(web["label"], suffix)

    def find(self, label: str) -> tuple[FunctionState | None, str | None]:
        """The function serving ``label`` (a deployed one first), and the class method."""
        state = self.cp.state
        cached = self._found.get(label)
        if cached is not None and cached[0].id in state.functions and not (
                state.app_of(cached[0]).stopped) and self.label_of(*cached) == label:
            return cached  # (a changed web suffix moves the endpoint's label)
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
        names = {self.label_of(fn, method) for method in _methods(fn)}
        self._refuse_taken(self.cp.state.app_of(fn).environment, names, repr(fn.name))

    def check_suffix(self, environment: str, suffix: str) -> None:
        """Refuse a web ``suffix`` for ``environment`` under which its running endpoints'
        labels would be another environment's."""
        names = {self.label_of(fn, method, suffix) for fn, method, _ in self._endpoints()
                 if self.cp.state.app_of(fn).environment == environment}
        self._refuse_taken(environment, names, f"environment {environment!r} with web suffix "
                                               f"{suffix!r}")

    def _refuse_taken(self, environment: str, names: set[str], what: str) -> None:
        for other, _, served in self._endpoints():
            app = self.cp.state.app_of(other)
            if served in names and app.environment != environment:
                raise exception.InvalidError(
                    f"web endpoint label {served!r} of {what} is served already by app "
                    f"{app.name!r} in environment {app.environment!r}; give the endpoint "
                    "another label=, or the environment another web suffix (docs/web.md: "
                    "labels across environments)")

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
        settings = [fn.options.web or {}, *(fn.options.web_methods or {}).values()]
        return any(web.get("requires_proxy_auth") for web in settings)

    def authorized(self, fn: FunctionState, headers: dict[str, str]) -> bool:
        if not self.needs_token(fn):
            return True
        for key, secret in PROXY_HEADERS:
            if key in headers:
                try:
                    token = self.cp.tokens.verify(headers[key], headers.get(secret, ""),
                                                  kind="proxy")
                except exception.Error:
                    return False
                return token.may_use(self.cp.state.app_of(fn).environment)  # scoped or not
        return False


def _methods(fn: FunctionState) -> list[str | None]:
    """A function's endpoints: None for its own, a class's web methods by name."""
    own: list[str | None] = [None] if fn.options.web else []
    return own + list(fn.options.web_methods or {})


def upstream_target(fn: FunctionState, method: str | None, path: str) -> str:
    """What the container is asked for: a class's web method's request under ``/<method>``
    (one app serves them all), a web_server method's as it came (its server is its own)."""
    if method and (fn.options.web_methods or {})[method]["kind"] != "server":
        return f"/{method}{path}"
    return path


def answer_s(fn: FunctionState) -> float:
    """How long a container may take to begin its answer: the function's timeout."""
    return float(fn.options.timeout or ANSWER_S)
