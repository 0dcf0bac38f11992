"""Cloud bucket mounts on the control plane: each mount's secret opened into the credentials
s3fs takes, checked when a function or sandbox is created, and handed to the worker with the
container's spec (never stored, never in the container's environment).

A secret for an S3 or R2 bucket holds ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``;
for a GCS bucket ``GOOGLE_ACCESS_KEY_ID`` and ``GOOGLE_ACCESS_KEY_SECRET`` (an HMAC key), as
Modal documents them. ``AWS_SESSION_TOKEN`` and ``AWS_REGION`` are taken where present.

Example::

    await check(vault, definition["cloud_bucket_mounts"], "function 'f'", "main", probe=True)
    spec_buckets = opened(vault, definition["cloud_bucket_mounts"], warn)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import exception
from ..options import RESERVED_MOUNTS
from ..worker import buckets
from .vault import SecretService

KEYS = {"gcs": ("GOOGLE_ACCESS_KEY_ID", "GOOGLE_ACCESS_KEY_SECRET")}
AWS_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
OPTIONAL = ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION")


def _well_formed(mount: Any) -> bool:
    """Whether ``mount`` has `ketch.CloudBucketMount`'s wire form, at a path it may take."""
    if not isinstance(mount, dict) or not isinstance(mount.get("bucket"), str):
        return False
    path = mount.get("path")
    return (isinstance(path, str) and path.startswith("/") and path.rstrip("/") != ""
            and ".." not in path.split("/") and mount.get("type", "s3") in ("s3", "r2", "gcs")
            and not any(path == p or path.startswith(p + "/") for p in RESERVED_MOUNTS))


def credentials(mount: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """What s3fs reads from its environment, from the values of the mount's secret."""
    key_id, secret = KEYS.get(mount.get("type", "s3"), AWS_KEYS)
    found = {k: values[k] for k in OPTIONAL if values.get(k)}
    if values.get(key_id) and values.get(secret):
        found.update(AWS_ACCESS_KEY_ID=values[key_id], AWS_SECRET_ACCESS_KEY=values[secret])
    elif values.get(AWS_KEYS[0]) and values.get(AWS_KEYS[1]):  # a GCS HMAC key under AWS names
        found.update({k: values[k] for k in AWS_KEYS})
    return found


def missing(mount: dict[str, Any], values: dict[str, str]) -> list[str]:
    """The keys the mount's secret lacks (none for a mount without a secret: a public bucket)."""
    if not mount.get("secret_id") or credentials(mount, values).get("AWS_ACCESS_KEY_ID"):
        return []
    return [k for k in KEYS.get(mount.get("type", "s3"), AWS_KEYS) if not values.get(k)]


def opened(vault: SecretService, mounts: list[dict[str, Any]],
           warn: Callable[[str], None]) -> list[dict[str, Any]]:
    """The mounts with their ``credentials``, for a container about to start."""
    return [{**mount, "credentials": credentials(mount, vault.environment(
        [mount["secret_id"]] if mount.get("secret_id") else [], warn))} for mount in mounts]


async def check(vault: SecretService, mounts: list[dict[str, Any]], owner: str,
                environment: str, probe: bool) -> None:
    """Raise, naming the fix, unless every mount's secret is one of ``environment``'s and has
    its keys, and (with ``probe``) the bucket takes them: ketch mounts it once, here, as a
    container's would be."""
    if mounts and (problem := buckets.unavailable()) is not None:
        raise exception.InvalidError(f"{owner} mounts cloud buckets, and {problem}")
    if not isinstance(mounts, list) or not all(_well_formed(m) for m in mounts):
        raise exception.InvalidError(f"{owner}: cloud bucket mounts are made with "
                                     "ketch.CloudBucketMount(...), given in volumes=")
    for mount in mounts:
        secret = mount.get("secret_name") or mount.get("secret_id")
        if mount.get("secret_id"):
            vault.check([mount["secret_id"]], owner, environment)
        values = vault.environment([mount["secret_id"]], lambda _: None) \
            if mount.get("secret_id") else {}
        lacking = missing(mount, values)
        if lacking:
            needed = KEYS.get(mount.get("type", "s3"), AWS_KEYS)
            raise exception.NotFoundError(
                f"{owner} mounts bucket {mount['bucket']!r} at {mount['path']} with secret "
                f"{secret!r}, which lacks {' and '.join(lacking)}: a bucket's secret holds "
                f"{' and '.join(needed)}; set them with `ketch secret create {secret} "
                f"{' '.join(k + '=...' for k in needed)} --force`")
        if probe:
            try:
                await buckets.probe(mount, credentials(mount, values))
            except exception.InvalidError as exc:
                keys = "/".join(KEYS.get(mount.get("type", "s3"), AWS_KEYS))
                tried = (f"with the {keys} of secret {secret!r}; change them with `ketch secret "
                         f"create {secret} ... --force`") if secret else "anonymously"
                raise exception.InvalidError(f"{owner}: {exc} (ketch tried {tried})") from None
