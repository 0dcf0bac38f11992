"""A function's egress proxy (``proxy=ketch.Proxy.from_name(name)``): the environment that
sends its containers' outbound HTTP through the proxy ``[proxies]`` of config.toml names."""

from __future__ import annotations

from .. import config, exception

NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def check(name: str, function: str) -> None:
    """Refuse, naming the fix, a proxy the server's config.toml does not name."""
    if name not in config.proxies():
        known = ", ".join(sorted(config.proxies())) or "none"
        raise exception.NotFoundError(
            f"function {function!r} asks for the proxy {name!r}, which [proxies] of "
            f"{config.home() / 'config.toml'} does not name (it names: {known}); add "
            f'{name} = "http://host:port" there')


def environment(name: str | None, control_plane_host: str) -> dict[str, str]:
    """The variables that route a container's outbound traffic through proxy ``name``; the
    control plane and loopback stay direct."""
    if not name:
        return {}
    url = config.proxies().get(name, "")
    env = {key: url for key in NAMES} | {key.lower(): url for key in NAMES}
    direct = ",".join(dict.fromkeys(["localhost", "127.0.0.1", "::1", control_plane_host]))
    return env | {"NO_PROXY": direct, "no_proxy": direct}
