"""The ``[gateway]`` table of config.toml, and the request body reader that holds a request
to its limits.

Anyone who can reach the gateway's port can send to an endpoint that needs no proxy token, so a
request's head and body are bounded before any of it is kept: its head must arrive within
``head_timeout_s`` (see `ketch.protocol.http_head`), its body may be at most ``max_body_mib``
(larger: 413, at once when its Content-Length says so) and must arrive within
``body_timeout_s`` (else 408). A container holds the requests of a connection handed to it to
the same limits. The defaults suit endpoints that take forms, JSON and uploads of a few files.

``domain`` names the endpoints' hosts: ``<label>.<domain>`` (default ``localhost``, which
browsers and curl resolve to the loopback address by themselves); point a wildcard DNS record
at the gateway to use another. ``handoff = false`` keeps every request going through the
gateway's process (see `gateway_handoff`)::

    [gateway]
    max_body_mib = 64
    head_timeout_s = 30
    body_timeout_s = 300    # 64 MiB at 220 KB/s
    domain = "ketch.example.com"
    handoff = true
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from .. import exception
from ..protocol.handoff import TOO_LARGE, TOO_SLOW

DOMAIN_RE = re.compile(r"^(?=.{1,200}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class Limits:
    max_body_mib: float = 64.0
    head_timeout_s: float = 30.0
    body_timeout_s: float = 300.0

    @property
    def max_body(self) -> int:
        return int(self.max_body_mib * 2**20)


@dataclass(frozen=True)
class Settings:
    limits: Limits = Limits()
    domain: str = "localhost"
    domain_given: bool = False  # set in config.toml: its hosts resolve (the operator's DNS)
    handoff: bool = True

    @classmethod
    def from_table(cls, table: Any) -> Settings:
        """What ``[gateway]`` in config.toml sets (None: the defaults)."""
        if table is None:
            return cls()
        limit_names = [f.name for f in dataclasses.fields(Limits)]
        names = [*limit_names, "domain", "handoff"]
        if not isinstance(table, dict) or set(table) - set(names):
            raise exception.InvalidError(
                f"[gateway] in config.toml takes {', '.join(names)}, not {table!r}")
        for name in limit_names:
            value = table.get(name, 1)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise exception.InvalidError(
                    f"{name} in [gateway] of config.toml is a positive number, not {value!r}")
        domain = table.get("domain", "localhost")
        if not isinstance(domain, str) or not DOMAIN_RE.match(domain.lower()):
            raise exception.InvalidError(
                f"domain in [gateway] of config.toml is a DNS name such as "
                f"\"ketch.example.com\" (endpoints are <label>.<domain>), not {domain!r}")
        handoff = table.get("handoff", True)
        if not isinstance(handoff, bool):
            raise exception.InvalidError(
                f"handoff in [gateway] of config.toml is true or false, not {handoff!r}")
        limits = Limits(**{n: float(table[n]) for n in limit_names if n in table})
        return cls(limits, domain.lower(), "domain" in table, handoff)


class Refused(Exception):
    """A request answered by the gateway itself, with ``status`` and a line that says why."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


async def read_body(receive: Any, limits: Limits, declared: str | None) -> bytes:
    """The whole body, within the limits; Refused when it breaks one or the client goes away.

    ``declared`` is the request's Content-Length, if it has one."""
    too_large = Refused(413, TOO_LARGE.format(limits.max_body_mib))
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
        raise Refused(408, TOO_SLOW.format(limits.body_timeout_s)) from None
