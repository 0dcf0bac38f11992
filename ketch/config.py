"""Where ketch keeps its state and which control plane it talks to.

- ``KETCH_HOME``: the state directory (default ``~/.ketch``): the SQLite file, blobs.
- ``KETCH_SERVER``: the address of a standalone control plane (``host:port``); unset means a
  control plane is embedded in the process for the length of the run.
- ``KETCH_SERVER_FINGERPRINT``: the TLS certificate fingerprint pinned for it (see `server_pin`).
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
    """``KETCH_SERVER``; else the ``ketch server`` running on this machine for this home."""
    if "KETCH_SERVER" in os.environ:
        return os.environ["KETCH_SERVER"] or None
    published = _read_json(home() / "server.json")
    pid = published.get("pid")
    if pid and not process_alive(int(pid)):
        return None  # left behind by a server that was killed: run embedded instead
    return published.get("address")


def server_pin(address: str) -> tuple[str, str] | None:
    """The fingerprint pinned for the control plane at ``address`` and where it was found:
    ``KETCH_SERVER_FINGERPRINT``; else the one ``KETCH_HOME/server.json`` publishes when it is
    the server at that address; else ``server_fingerprint`` in ``KETCH_HOME/token.json`` (set by
    `ketch token pin`). None: the client speaks plain TCP (`ketch.protocol.tls`)."""
    if os.environ.get("KETCH_SERVER_FINGERPRINT"):
        return os.environ["KETCH_SERVER_FINGERPRINT"], "KETCH_SERVER_FINGERPRINT"
    published = _read_json(home() / "server.json")
    if published.get("address") == address:
        pinned = published.get("fingerprint")
        return (pinned, str(home() / "server.json")) if pinned else None
    pinned = _read_json(home() / "token.json").get("server_fingerprint")
    return (pinned, str(home() / "token.json")) if pinned else None


def save_token(updates: dict[str, str]) -> Path:
    """Change fields of ``KETCH_HOME/token.json`` (the token, the pinned fingerprint), keeping
    the others."""
    return write_private_json("token.json", {**_read_json(home() / "token.json"), **updates})


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def gateway_port() -> int:
    """``KETCH_GATEWAY_PORT``: the web gateway's port (default: any free one), so that web
    endpoints keep their URLs across ``ketch serve`` reloads."""
    return int(os.environ.get("KETCH_GATEWAY_PORT") or 0)


def credentials() -> dict[str, str]:
    """What this process shows the control plane: its container's token inside a container,
    else ``KETCH_TOKEN_ID``/``KETCH_TOKEN_SECRET``, else ``KETCH_HOME/token.json``."""
    if os.environ.get("KETCH_CONTAINER_ID"):
        return {"container_id": os.environ["KETCH_CONTAINER_ID"],
                "secret": os.environ.get("KETCH_CONTAINER_TOKEN", "")}
    if os.environ.get("KETCH_TOKEN_ID"):
        return {"token_id": os.environ["KETCH_TOKEN_ID"],
                "secret": os.environ.get("KETCH_TOKEN_SECRET", "")}
    token = _read_json(home() / "token.json")
    return {"token_id": token.get("token_id", ""), "secret": token.get("token_secret", "")}


def write_private_json(name: str, data: dict[str, str]) -> Path:
    """Write ``KETCH_HOME/name`` readable by its owner only (tokens, the server's address)."""
    import json

    path = home() / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.chmod(path, 0o600)
    return path


def _read_json(path: Path) -> dict[str, str]:
    import json

    try:
        with open(path) as f:
            return dict(json.load(f))
    except (OSError, ValueError):
        return {}


def max_containers() -> int | None:
    value = os.environ.get("KETCH_MAX_CONTAINERS")
    return int(value) if value else None


def volumes_path() -> Path | None:
    """``path`` of ``[volumes]`` in ``config.toml``: where volume versions (or their cache) and
    containers' volume layers live; None for the control plane's state directory. On a
    cluster, a path every node mounts at the same place."""
    from pathlib import Path

    value = _volumes().get("path")
    return Path(value).expanduser() if value else None


def volumes_url() -> str | None:
    """``url`` of ``[volumes]`` in ``config.toml``: an fsspec URL (``s3://bucket/prefix``) that
    keeps the volume versions, or None to keep them under `volumes_path`."""
    value = _volumes().get("url")
    return str(value) if value else None


def _volumes() -> dict[str, Any]:
    return _table("volumes", 'path = "/shared/dir" and/or url = "s3://bucket/prefix"')


def images_settings() -> dict[str, Any]:
    """``[images]`` of ``config.toml``: how images are pulled and built (keys: see `settings`)."""
    return _table("images", 'registry_mirror = "http://mirror:5000", offline = true and the '
                            "like (the keys are listed in ketch.config.settings)")


def proxies() -> dict[str, str]:
    """``[proxies]`` of ``config.toml``: egress proxies by name (``corp = "http://host:3128"``),
    for functions' ``proxy=ketch.Proxy.from_name(name)``."""
    return {str(k): str(v) for k, v in
            _table("proxies", 'corp = "http://proxy.internal:3128"').items()}


def _table(name: str, example: str) -> dict[str, Any]:
    value = settings().get(name) or {}
    if not isinstance(value, dict):
        from . import exception

        raise exception.InvalidError(f"{name} in config.toml is a table: [{name}] with {example}")
    return value


def settings() -> dict[str, Any]:
    """``KETCH_HOME/config.toml``, or {} when there is none.

    Example file::

        runtime = "namespace"          # the default runtime for functions
        zygotes = true                 # fork containers from zygotes (KETCH_ZYGOTES=0: never)
        backend = "ray"                # where `ketch server` runs containers: "local" or "ray"
        ray_address = "head:6379"      # the Ray cluster of the ray backend (default: "auto")
        [volumes]                      # where volumes live (see docs/ray.md)
        path = "/mnt/shared/ketch"     # versions and containers' layers (default: the state dir)
        url = "s3://bucket/volumes"    # keep the versions in an fsspec store; `path` caches them
        [prices]                       # dollars per second, overriding the defaults
        cpu = 0.0000131                # per core
        memory = 0.00000222            # per GiB
        H100 = 0.001097                # per GPU, by Modal's GPU names
        [images]                       # how images are pulled and built
        registry_mirror = "http://mirror:5000"  # pulls from Docker Hub go here first
        insecure_registries = ["registry.local:5000"]  # plain HTTP (or unverified TLS) allowed
        offline = false                # never reach a registry or a Python download: only
                                       # what is here
        python_mirror = "https://…"    # where standalone CPython builds are downloaded from
        python_downloads_json = "/path/downloads.json"  # uv's list of Python builds, replacing
                                                        # its own (a path or a URL)
        debian_slim = "registry"       # debian_slim() from python:X-slim on every node, not
                                       # this machine's OS (default "host" where it has X)
        [proxies]                      # egress proxies, for proxy=ketch.Proxy.from_name(...)
        corp = "http://proxy.internal:3128"
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


def zygotes_enabled() -> bool:
    """Whether containers are forked from zygotes: ``KETCH_ZYGOTES`` (0 or 1), else
    ``zygotes`` in ``config.toml``, else yes."""
    return _switch("KETCH_ZYGOTES", "zygotes")


def sandbox_spares_enabled() -> bool:
    """Whether a spare sandbox of each shape is kept running ahead of demand:
    ``KETCH_SANDBOX_SPARES`` (0 or 1), else ``sandbox_spares`` in ``config.toml``, else yes."""
    return _switch("KETCH_SANDBOX_SPARES", "sandbox_spares")


def _switch(variable: str, setting: str) -> bool:
    value = os.environ.get(variable)
    if value:
        return value not in ("0", "false", "no")
    return bool(settings().get(setting, True))


def environment() -> str:
    """``KETCH_ENVIRONMENT`` (or Modal's ``MODAL_ENVIRONMENT``): the environment requests go to
    that name none; "" lets the control plane choose (a container's own, or the token's)."""
    return os.environ.get("KETCH_ENVIRONMENT") or os.environ.get("MODAL_ENVIRONMENT") or ""
