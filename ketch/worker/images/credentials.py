"""Registry credentials from the values of the secret an image names.

Example::

    credentials({"auth": "basic", "secret_env": {"REGISTRY_USERNAME": "me",
                                                 "REGISTRY_PASSWORD": "token"}})
    # {'username': 'me', 'password': 'token'}

As Modal takes them: ``from_registry`` a username and password (REGISTRY_USERNAME,
REGISTRY_PASSWORD), ``from_gcp_artifact_registry`` a service account's key
(SERVICE_ACCOUNT_JSON, sent as the password of the user ``_json_key``), ``from_aws_ecr`` an
access key (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), traded with ECR for a
12-hour pull token.
"""

from __future__ import annotations

import base64
from typing import Any

from ... import exception

NEEDED = {
    "basic": ("REGISTRY_USERNAME", "REGISTRY_PASSWORD"),
    "gcp": ("SERVICE_ACCOUNT_JSON",),
    "aws": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"),
}


def credentials(step: dict[str, Any]) -> dict[str, str] | None:
    """The username and password to pull ``step``'s image with; None for an anonymous pull."""
    env = step.get("secret_env")
    if env is None:
        return None
    auth = step.get("auth") or "basic"
    missing = [key for key in NEEDED[auth] if not env.get(key)]
    if missing:
        raise exception.InvalidError(
            f"the secret given for image {step['ref']} lacks {', '.join(missing)}; create it "
            f"with `ketch secret create NAME {' '.join(f'{k}=...' for k in NEEDED[auth])}`")
    if auth == "gcp":
        return {"username": "_json_key", "password": env["SERVICE_ACCOUNT_JSON"]}
    if auth == "aws":
        return _ecr_token(env)
    return {"username": env["REGISTRY_USERNAME"], "password": env["REGISTRY_PASSWORD"]}


def _ecr_token(env: dict[str, str]) -> dict[str, str]:
    try:
        import boto3
    except ImportError:
        raise exception.InvalidError("Image.from_aws_ecr needs boto3 on the worker: "
                                     "`pip install boto3`") from None
    client = boto3.client("ecr", region_name=env["AWS_REGION"],
                          aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    try:
        data = client.get_authorization_token()["authorizationData"][0]
    except Exception as exc:  # botocore's errors: the message says what AWS refused
        raise exception.InvalidError(f"AWS ECR refused a pull token for these keys: {exc}") from exc
    username, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
    return {"username": username, "password": password}
