"""Image references (``[registry/]repository[:tag][@digest]``) and this machine's platform.

Example::

    ref = Reference.parse("python:3.12-slim")
    str(ref)        # 'docker.io/library/python:3.12-slim'
    ref.api_host    # 'registry-1.docker.io'

Kept apart from the registry client so that the SDK can check a reference at decoration
without importing an HTTP client.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from . import exception

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}
_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def machine_architecture() -> str:
    """This machine's architecture as OCI names it (amd64, arm64)."""
    machine = os.uname().machine
    return ARCHITECTURES.get(machine, machine)


@dataclass(frozen=True)
class Reference:
    """An image reference: ``[registry/]repository[:tag][@digest]``."""

    registry: str  # as written, docker.io for Docker Hub
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, text: str) -> Reference:
        if not isinstance(text, str) or not text or text != text.strip():
            raise exception.InvalidError(f"{text!r} is not an image reference such as "
                                         "'python:3.12-slim' or 'ghcr.io/owner/image:tag'")
        rest, at, found = text.partition("@")
        digest = found if at else None
        tag = None
        last = rest.rsplit("/", 1)[-1]
        if ":" in last:
            rest, tag = rest.rsplit(":", 1)
        first, _, remainder = rest.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, remainder
        else:
            registry, repository = DOCKER_HUB, rest
        if registry in ("index.docker.io", DOCKER_HUB_API):
            registry = DOCKER_HUB
        if registry == DOCKER_HUB and "/" not in repository:
            repository = f"library/{repository}"
        problem = None
        if not _NAME.match(repository):
            problem = f"{repository!r} is not a repository name (lowercase letters, digits, ., _, -, /)"
        elif tag is not None and not _TAG.match(tag):
            problem = f"{tag!r} is not a tag"
        elif digest is not None and not _DIGEST.match(digest):
            problem = f"{digest!r} is not a digest (sha256: and 64 hex digits)"
        if problem:
            raise exception.InvalidError(f"image reference {text!r}: {problem}")
        return cls(registry, repository, tag if tag or digest else "latest", digest)

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}"
        return name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")
