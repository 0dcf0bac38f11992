"""`CloudBucketMount`: an S3-compatible bucket mounted into containers, as Modal's
``modal.CloudBucketMount``.

Given in ``volumes=`` (of ``@app.function``, ``@app.cls``, ``@app.server``,
``Sandbox.create``) beside volumes. The worker mounts the bucket with s3fs (FUSE) before the
container starts, where the container's mount namespace sees it, and unmounts it after; the
credentials go to s3fs alone, never into the container, an image layer or the store. AWS S3
by default; Cloudflare R2, Google Cloud Storage (its S3 interoperability, with an HMAC key)
and MinIO or any S3-compatible server through ``bucket_endpoint_url`` (MinIO usually with
``force_path_style=True``).

The secret holds ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` (for GCS
``GOOGLE_ACCESS_KEY_ID`` and ``GOOGLE_ACCESS_KEY_SECRET``), optionally ``AWS_SESSION_TOKEN``
and ``AWS_REGION``; without a secret the bucket is read anonymously (a public bucket). A
missing key, or credentials the bucket refuses, fail the app's start (`ketch run`), naming
the keys.

Example::

    secret = ketch.Secret.from_name("aws", required_keys=["AWS_ACCESS_KEY_ID",
                                                          "AWS_SECRET_ACCESS_KEY"])

    @app.function(volumes={"/data": ketch.CloudBucketMount("my-bucket", secret=secret,
                                                           key_prefix="raw/", read_only=True)})
    def count():
        return len(os.listdir("/data"))     # the objects under raw/
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from . import exception

if TYPE_CHECKING:
    from .client import Client
    from .secret import Secret


@dataclass
class CloudBucketMount:
    bucket_name: str
    bucket_endpoint_url: str | None = None
    key_prefix: str | None = None
    secret: Secret | None = None
    oidc_auth_role_arn: str | None = None
    read_only: bool = False
    requester_pays: bool = False
    force_path_style: bool = False

    def __post_init__(self) -> None:
        from .secret import Secret

        if not isinstance(self.bucket_name, str) or not self.bucket_name.strip():
            raise exception.InvalidError(
                f"CloudBucketMount needs the bucket's name, not {self.bucket_name!r}")
        if "/" in self.bucket_name or ":" in self.bucket_name:
            raise exception.InvalidError(
                f"bucket_name is the bucket alone ({self.bucket_name!r} is not): give a folder "
                "inside it as key_prefix='folder/'")
        url = self.bucket_endpoint_url
        if url is not None and (not isinstance(url, str) or urlparse(url).scheme
                                not in ("http", "https") or not urlparse(url).hostname):
            raise exception.InvalidError(
                f"bucket_endpoint_url is the S3 endpoint's URL, such as "
                f"'https://<account>.r2.cloudflarestorage.com', not {url!r}")
        if self.key_prefix is not None and (not isinstance(self.key_prefix, str)
                                            or not self.key_prefix.endswith("/")
                                            or self.key_prefix.startswith("/")):
            raise exception.InvalidError(
                "key_prefix will be prefixed to all object paths, so it must end in a '/' "
                f"(and not start with one): {self.key_prefix!r}")
        if self.secret is not None and not isinstance(self.secret, Secret):
            raise exception.InvalidError("CloudBucketMount's secret is a ketch.Secret, such as "
                                         "ketch.Secret.from_name('aws-credentials')")
        if self.requester_pays and self.secret is None:
            raise exception.InvalidError("Credentials required in order to use Requester Pays: "
                                         "give the mount a secret")
        if self.oidc_auth_role_arn is not None:
            raise exception.InvalidError(
                "oidc_auth_role_arn asks Modal's cloud for an identity; a ketch server has "
                "none: give the mount a secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")

    @property
    def bucket_type(self) -> str:
        """``s3``, ``r2`` or ``gcs``, from the endpoint's host (as Modal tells them apart)."""
        host = urlparse(self.bucket_endpoint_url or "").hostname or ""
        if host.endswith("r2.cloudflarestorage.com"):
            return "r2"
        if host.endswith("storage.googleapis.com"):
            return "gcs"
        return "s3"

    async def _to_wire(self, client: Client, path: str, environment: str) -> dict[str, Any]:
        """What a function's definition carries: the mount, and its secret by id (one of
        ``environment``'s, where the app runs)."""
        secret_id = await self.secret._id_for_run(client, environment) \
            if self.secret is not None else None
        return {"path": path, "bucket": self.bucket_name, "endpoint_url": self.bucket_endpoint_url,
                "key_prefix": self.key_prefix or "", "read_only": bool(self.read_only),
                "requester_pays": bool(self.requester_pays),
                "force_path_style": bool(self.force_path_style), "type": self.bucket_type,
                "secret_id": secret_id,
                "secret_name": self.secret.name if self.secret is not None else None}


def buckets_of(mounts: dict[str, Any]) -> dict[str, CloudBucketMount]:
    return {path: m for path, m in mounts.items() if isinstance(m, CloudBucketMount)}


async def bucket_wires(client: Client, mounts: dict[str, Any], environment: str
                       ) -> list[dict[str, Any]]:
    """The bucket mounts among ``mounts`` (path -> volume or bucket), for a definition of an
    app of ``environment``."""
    return [await bucket._to_wire(client, path, environment)
            for path, bucket in buckets_of(mounts).items()]
