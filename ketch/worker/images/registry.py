"""Talk to an OCI (Docker v2) registry: image references, authentication, manifests, blobs.

Example::

    ref = Reference.parse("python:3.12-slim")      # docker.io/library/python:3.12-slim
    async with RegistryClient(ref, credentials=None) as registry:
        manifest = await registry.manifest()        # this machine's architecture, verified
        async for chunk in registry.blob(manifest.layers[0]):
            ...

A registry asks for credentials with a 401 and a ``WWW-Authenticate`` header: ``Bearer``
sends the client to a token service (with the basic credentials, if any, or anonymously),
``Basic`` takes them directly. Docker Hub's images may come from ``registry_mirror`` first;
hosts in ``insecure_registries`` and loopback addresses are spoken to over plain HTTP, as
Docker does. Everything fetched by digest is checked against it by the caller (`verified`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ... import exception
from ...image_reference import DOCKER_HUB, Reference, machine_architecture

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")


@dataclass
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    """An image manifest for one platform: its digest, its config's and its layers'."""

    digest: str
    config: Descriptor
    layers: list[Descriptor]


def verified(data: bytes, digest: str, what: str) -> bytes:
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise exception.InvalidError(f"{what} does not match its digest {digest}: the registry "
                                     "sent other bytes than it named (a broken mirror or proxy?)")
    return data


def _descriptor(entry: Any) -> Descriptor:
    return Descriptor(str(entry["mediaType"]), str(entry["digest"]), int(entry.get("size", 0)),
                      list(entry.get("urls") or []))


class RegistryClient:
    """One image's registry, with the authentication it asks for."""

    def __init__(self, ref: Reference, credentials: dict[str, str] | None,
                 settings: dict[str, Any] | None = None) -> None:
        self.ref = ref
        self.credentials = credentials or None
        settings = settings or {}
        self.insecure = set(settings.get("insecure_registries") or [])
        mirror = settings.get("registry_mirror")
        self.hosts = [self._base(ref.api_host)]
        if mirror and ref.registry == DOCKER_HUB:
            self.hosts.insert(0, str(mirror).rstrip("/"))
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=300.0),
                                      follow_redirects=True,
                                      limits=httpx.Limits(max_connections=16))
        self._auth: dict[str, str] = {}  # per base URL: the Authorization header that worked

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *_: Any) -> None:
        await self.http.aclose()

    def _base(self, host: str) -> str:
        loopback = host.startswith(("127.", "localhost", "[::1]"))
        scheme = "http" if loopback or host in self.insecure else "https"
        return f"{scheme}://{host}"

    async def manifest(self) -> Manifest:
        """The manifest of the image for this machine (linux and its architecture)."""
        reference = self.ref.digest or self.ref.tag or "latest"
        digest, body = await self._manifest(reference)
        if self.ref.digest:
            verified(body, self.ref.digest, f"the manifest of {self.ref}")
        document = json.loads(body)
        if document.get("mediaType") in INDEX_TYPES or "manifests" in document:
            entry = self._platform(document)
            digest, body = await self._manifest(entry["digest"])
            verified(body, entry["digest"], f"the {machine_architecture()} manifest of {self.ref}")
            document = json.loads(body)
        if "layers" not in document or "config" not in document:
            raise exception.InvalidError(
                f"{self.ref} is not an image ketch can run (its manifest is "
                f"{document.get('mediaType') or document.get('schemaVersion')!r}, not an OCI or "
                "Docker v2 image manifest); push it again with a current docker or skopeo")
        return Manifest(digest, _descriptor(document["config"]),
                        [_descriptor(layer) for layer in document["layers"]])

    def _platform(self, index: dict[str, Any]) -> dict[str, Any]:
        arch = machine_architecture()
        platforms = []
        for entry in index.get("manifests") or []:
            platform = entry.get("platform") or {}
            if platform.get("os") == "linux" and platform.get("architecture") == arch:
                return dict(entry)
            if platform.get("architecture") not in (None, "unknown"):
                platforms.append(f"{platform.get('os')}/{platform.get('architecture')}")
        raise exception.InvalidError(
            f"{self.ref} has no build for linux/{arch}, this machine's platform (it has "
            f"{', '.join(platforms) or 'none'}); use a tag built for {arch}, or run it on a "
            "machine of its platform")

    async def _manifest(self, reference: str) -> tuple[str, bytes]:
        accept = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
        response = await self._get(f"/manifests/{reference}", {"Accept": accept})
        body = response.content
        await response.aclose()
        return "sha256:" + hashlib.sha256(body).hexdigest(), body

    async def blob_bytes(self, descriptor: Descriptor, what: str) -> bytes:
        response = await self._get(f"/blobs/{descriptor.digest}", {})
        data = response.content
        await response.aclose()
        return verified(data, descriptor.digest, what)

    async def blob(self, descriptor: Descriptor) -> AsyncIterator[bytes]:
        """The blob's bytes as they arrive (the caller checks its digest)."""
        if descriptor.urls:
            raise exception.InvalidError(
                f"{self.ref} has a layer kept outside its registry ({descriptor.urls[0]}), as "
                "Windows base images do; ketch runs Linux images from one registry")
        response = await self._get(f"/blobs/{descriptor.digest}", {}, stream=True)
        try:
            async for chunk in response.aiter_raw(1 << 20):
                yield chunk
        finally:
            await response.aclose()

    async def _get(self, path: str, headers: dict[str, str], stream: bool = False
                   ) -> httpx.Response:
        """GET ``path`` of the repository from the first host that has it (mirror, then the
        registry), authenticating as asked."""
        failures = []
        for number, base in enumerate(self.hosts):
            last = number == len(self.hosts) - 1
            try:
                response = await self._get_from(base, path, headers, stream)
            except httpx.HTTPError as exc:
                failures.append(f"{base}: {exc or type(exc).__name__}")
                if last:
                    raise exception.InvalidError(
                        f"cannot reach the registry of {self.ref} ({'; '.join(failures)}); check "
                        "the name and the network, or set registry_mirror or "
                        "insecure_registries in [images] of config.toml") from exc
                continue
            if response.status_code < 300:
                return response
            await response.aclose()
            if not last and (response.status_code in (401, 403, 404, 429)
                             or response.status_code >= 500):
                failures.append(f"{base}: HTTP {response.status_code}")
                continue
            raise self._refused(response, path)
        raise AssertionError("unreachable")

    async def _get_from(self, base: str, path: str, headers: dict[str, str], stream: bool
                        ) -> httpx.Response:
        url = f"{base}/v2/{self.ref.repository}{path}"
        sent = {**headers, **({"Authorization": self._auth[base]} if base in self._auth else {})}
        response = await self.http.send(self.http.build_request("GET", url, headers=sent),
                                        stream=stream)
        if response.status_code != 401:
            return response
        # Asked to authenticate, or again: a token expires (Docker Hub's after 5 minutes).
        challenge = response.headers.get("WWW-Authenticate", "")
        await response.aclose()
        self._auth[base] = await self._authorize(challenge)
        sent = {**headers, "Authorization": self._auth[base]}
        return await self.http.send(self.http.build_request("GET", url, headers=sent),
                                    stream=stream)

    async def _authorize(self, challenge: str) -> str:
        scheme, _, params = challenge.partition(" ")
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        basic = (self.credentials["username"], self.credentials["password"]) \
            if self.credentials else None
        if scheme.lower() == "basic":
            if basic is None:
                raise self._needs_credentials()
            return "Basic " + base64.b64encode(":".join(basic).encode()).decode()
        if scheme.lower() != "bearer" or "realm" not in fields:
            raise exception.InvalidError(f"the registry of {self.ref} asks for an "
                                         f"authentication ketch does not speak: {challenge!r}")
        query = {"scope": fields.get("scope") or f"repository:{self.ref.repository}:pull"}
        if fields.get("service"):
            query["service"] = fields["service"]
        try:
            answer = await self.http.get(fields["realm"], params=query,
                                         auth=httpx.BasicAuth(*basic) if basic else None)
        except httpx.HTTPError as exc:
            raise exception.InvalidError(f"cannot reach the token service {fields['realm']} of "
                                         f"{self.ref}'s registry: {exc}") from exc
        if answer.status_code in (401, 403):
            raise self._needs_credentials() if basic is None else self._bad_credentials()
        if answer.status_code >= 300:
            raise exception.InvalidError(f"the token service {fields['realm']} of {self.ref} "
                                         f"answered HTTP {answer.status_code}: {answer.text[:200]}")
        body = answer.json()
        return f"Bearer {body.get('token') or body.get('access_token')}"

    def _needs_credentials(self) -> exception.Error:
        return exception.InvalidError(
            f"the registry of {self.ref} needs credentials: pass "
            "secret=ketch.Secret.from_name(...) holding REGISTRY_USERNAME and REGISTRY_PASSWORD "
            "to Image.from_registry")

    def _bad_credentials(self) -> exception.Error:
        return exception.InvalidError(
            f"the registry of {self.ref} refused the credentials of the secret given to "
            "from_registry (REGISTRY_USERNAME / REGISTRY_PASSWORD); check them, and that the "
            "token may pull this repository")

    def _refused(self, response: httpx.Response, path: str) -> exception.Error:
        status = response.status_code
        if status == 401:
            return self._bad_credentials() if self.credentials else self._needs_credentials()
        if status == 404 and path.startswith("/manifests/"):
            what = self.ref.digest or self.ref.tag
            return exception.NotFoundError(
                f"image {self.ref} does not exist: the registry has no {what!r} in "
                f"{self.ref.repository} (check the name and the tag; private images need "
                "secret= with REGISTRY_USERNAME and REGISTRY_PASSWORD)")
        if status == 403:
            return exception.InvalidError(f"the registry of {self.ref} denies access to it "
                                          "(HTTP 403): check the credentials' permissions")
        if status == 429:
            return exception.InvalidError(
                f"the registry of {self.ref} limits how often it may be pulled (HTTP 429): wait, "
                "log in with secret= (Docker Hub gives accounts more pulls), or set "
                "registry_mirror in [images] of config.toml")
        return exception.InvalidError(f"the registry of {self.ref} answered HTTP {status} for "
                                      f"{path}")
