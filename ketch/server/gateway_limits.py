"""What one web client may cost the gateway, and the request body reader that holds it to that.

Anyone who can reach the gateway's port can send to an endpoint that needs no proxy token, so a
request's head and body are bounded before any of it is kept: its head must arrive within
``head_timeout_s`` (see `gateway_http`), its body may be at most ``max_body_mib`` (larger: 413,
at once when its Content-Length says so) and must arrive within ``body_timeout_s`` (else 408).
The defaults suit endpoints that take forms, JSON and uploads of a few files; a ``[gateway]``
table in ``config.toml`` changes them::

    [gateway]
    max_body_mib = 64
    head_timeout_s = 30
    body_timeout_s = 300    # 64 MiB at 220 KB/s
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from .. import exception


@dataclass(frozen=True)
class Limits:
    max_body_mib: float = 64.0
    head_timeout_s: float = 30.0
    body_timeout_s: float = 300.0

    @property
    def max_body(self) -> int:
        return int(self.max_body_mib * 2**20)

    @classmethod
    def from_settings(cls, table: Any) -> Limits:
        """The limits that ``[gateway]`` in config.toml sets (None: the defaults)."""
        names = [f.name for f in dataclasses.fields(cls)]
        if table is None:
            return cls()
        if not isinstance(table, dict) or set(table) - set(names):
            raise exception.InvalidError(
                f"[gateway] in config.toml takes {', '.join(names)}, not {table!r}")
        for name, value in table.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise exception.InvalidError(
                    f"{name} in [gateway] of config.toml is a positive number, not {value!r}")
        return cls(**{name: float(value) for name, value in table.items()})


class Refused(Exception):
    """A request answered by the gateway itself, with ``status`` and a line that says why."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


async def read_body(receive: Any, limits: Limits, declared: str | None) -> bytes:
    """The whole body, within the limits; Refused when it breaks one or the client goes away.

    ``declared`` is the request's Content-Length, if it has one."""
    too_large = Refused(413, f"the request body is over the gateway's {limits.max_body_mib:g} "
                             "MiB (max_body_mib in [gateway] of the server's config.toml)\n")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body:
        raise too_large
    parts, size = [], 0
    try:
        async with asyncio.timeout(limits.body_timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise Refused(400, "the client went away before its body was whole\n")
                parts.append(message.get("body", b""))
                size += len(parts[-1])
                if size > limits.max_body:
                    raise too_large
                if not message.get("more_body"):
                    return b"".join(parts)
    except TimeoutError:
        raise Refused(408, f"the request body did not arrive within {limits.body_timeout_s:g} "
                           "s (body_timeout_s in [gateway] of the server's config.toml)\n") from None
