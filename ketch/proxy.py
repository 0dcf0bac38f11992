"""`Proxy`: the egress proxy a function's outbound traffic goes through (Modal's ``Proxy``).

Example::

    # KETCH_HOME/config.toml on the server:  [proxies]  corp = "http://proxy.internal:3128"
    @app.function(proxy=ketch.Proxy.from_name("corp"))
    def fetch(url):
        return urllib.request.urlopen(url).read()

ketch sets the container's ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``ALL_PROXY`` (and their lower
case forms) to the proxy named in ``[proxies]`` of the server's config.toml, which most HTTP
clients follow; loopback and the control plane stay direct (``NO_PROXY``). A name the server
does not know is refused when the app starts.
"""

from __future__ import annotations

from . import exception


class Proxy:
    def __init__(self, name: str) -> None:
        self.name = name

    @staticmethod
    def from_name(name: str, *, environment_name: str | None = None) -> Proxy:
        if not isinstance(name, str) or not name:
            raise exception.InvalidError(f"Proxy.from_name needs a name, not {name!r}")
        return Proxy(name)

    def __repr__(self) -> str:
        return f"Proxy({self.name!r})"
