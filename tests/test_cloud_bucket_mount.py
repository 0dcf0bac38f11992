"""`ketch.CloudBucketMount` (Modal's ``modal.CloudBucketMount``): a bucket of a real
S3-compatible server on 127.0.0.1 (`s3_server`) mounted by the worker through s3fs, read and
written by functions and a sandbox run with ``ketch run``; bad secrets fail the run before
anything starts; bad mounts are refused at decoration."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3_server import S3Server

import ketch
from ketch import exception
from ketch.server.bucket_mounts import credentials, missing
from ketch.worker.buckets import s3fs_command, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

PROGRAM = Path(__file__).parent / "compat" / "programs" / "bucket_mount.py"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def s3() -> Iterator[S3Server]:
    server = S3Server.start()
    server.client.create_bucket(Bucket="ketch-data")
    server.client.put_object(Bucket="ketch-data", Key="seed.txt", Body=b"seeded\n")
    server.client.put_object(Bucket="ketch-data", Key="scoped/already.txt", Body=b"x")
    yield server
    server.stop()


def ketch_cli(s3: S3Server, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketch.cli", *args], cwd=ROOT,
                          env={**os.environ, "BUCKET_ENDPOINT_URL": s3.url, **env},
                          capture_output=True, text=True, timeout=240)


def secret(s3: S3Server, name: str, KETCH_ENVIRONMENT: str = "", **values: str) -> None:
    made = ketch_cli(s3, "secret", "create", name, *(f"{k}={v}" for k, v in values.items()),
                     "--force", KETCH_ENVIRONMENT=KETCH_ENVIRONMENT)
    assert made.returncode == 0, made.stderr


def test_functions_and_a_sandbox_read_and_write_a_bucket_through_its_mount(s3):
    secret(s3, "bucket-creds", AWS_ACCESS_KEY_ID="any", AWS_SECRET_ACCESS_KEY="any")
    result = ketch_cli(s3, "run", "-q", f"{PROGRAM}::main")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "read ('seeded', ['out', 'scoped', 'seed.txt'])",
        "read-only EROFS",  # the write was refused inside the container
        "scoped ['already.txt', 'inside.txt']",  # key_prefix: only what lies under scoped/
        "sandbox seeded 0 -"]
    assert s3.read("ketch-data", "out/result.txt") == b"seeded + ketch"
    assert s3.read("ketch-data", "scoped/inside.txt") == b"scoped write"
    assert s3.read("ketch-data", "from-sandbox.txt") == b"sandboxed"
    assert "forbidden.txt" not in s3.keys("ketch-data")
    assert not list((Path(os.environ["KETCH_HOME"]) / "buckets").glob("*/*"))  # unmounted


def test_a_secret_lacking_a_key_fails_the_run_naming_it(s3):
    secret(s3, "half-creds", AWS_ACCESS_KEY_ID="any")
    result = ketch_cli(s3, "run", f"{PROGRAM}::main", BUCKET_SECRET="half-creds")
    assert result.returncode != 0
    assert "secret 'half-creds', which lacks AWS_SECRET_ACCESS_KEY" in result.stderr
    assert "ketch secret create half-creds AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=..." \
        in result.stderr
    assert "read" not in result.stdout  # nothing ran


def test_credentials_the_bucket_refuses_fail_the_run_and_good_ones_read(s3):
    key_id, key_secret = s3.require_credentials()
    secret(s3, "wrong-creds", AWS_ACCESS_KEY_ID="AKIAWRONG", AWS_SECRET_ACCESS_KEY="nope")
    refused = ketch_cli(s3, "run", f"{PROGRAM}::read_seed", BUCKET_SECRET="wrong-creds")
    assert refused.returncode != 0
    assert "bucket 'ketch-data' (at /bucket) could not be mounted: InvalidAccessKeyId" \
        in refused.stderr
    assert "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY of secret 'wrong-creds'" in refused.stderr
    assert "AKIAWRONG" not in refused.stderr + refused.stdout  # values are never shown
    secret(s3, "good-creds", AWS_ACCESS_KEY_ID=key_id, AWS_SECRET_ACCESS_KEY=key_secret)
    read = ketch_cli(s3, "run", "-q", f"{PROGRAM}::read_seed", BUCKET_SECRET="good-creds")
    assert read.returncode == 0, read.stderr
    assert read.stdout.splitlines() == ["seed seeded"]


def test_a_buckets_secret_is_the_one_of_the_apps_environment(s3):
    environment = f"buckets-{os.getpid()}"
    made = ketch_cli(s3, "environment", "create", environment)
    assert made.returncode == 0, made.stderr
    secret(s3, "env-creds", KETCH_ENVIRONMENT=environment, AWS_ACCESS_KEY_ID="any",
           AWS_SECRET_ACCESS_KEY="any")
    elsewhere = ketch_cli(s3, "run", f"{PROGRAM}::read_seed", BUCKET_SECRET="env-creds")
    assert elsewhere.returncode != 0
    assert "env-creds" in elsewhere.stderr and "read" not in elsewhere.stdout
    there = ketch_cli(s3, "run", "-q", f"{PROGRAM}::read_seed", BUCKET_SECRET="env-creds",
                      KETCH_ENVIRONMENT=environment)
    assert there.returncode == 0, there.stderr
    assert there.stdout.splitlines() == ["seed seeded"]


def test_mounts_that_cannot_work_are_refused_at_decoration():
    app = ketch.App("bad-buckets")
    bucket = ketch.CloudBucketMount("b", secret=ketch.Secret.from_dict({}))
    volume = ketch.Volume.from_name("v", create_if_missing=True)
    cases = [
        ({"volumes": {"/data": volume, "/data/raw": bucket}}, "clash"),
        ({"volumes": {"/b": bucket}, "network_file_systems": {
            "/b/": ketch.NetworkFileSystem.from_name("n", create_if_missing=True)}}, "clash"),
        ({"volumes": {"/b": bucket}, "runtime": "process"}, "process runtime cannot"),
        ({"cloud_bucket_mounts": {"/b": volume}}, "must be a ketch.CloudBucketMount"),
    ]
    for kwargs, message in cases:
        with pytest.raises(exception.InvalidError, match=message):
            app.function(serialized=True, **kwargs)(lambda: None)
    with pytest.raises(exception.InvalidError, match="clash"):
        ketch.App("app-level", volumes={"/data": volume}).function(
            serialized=True, volumes={"/data/sub": bucket})(lambda: None)
    for kwargs, message in (({"key_prefix": "raw"}, "must end in a '/'"),
                            ({"requester_pays": True}, "Requester Pays"),
                            ({"oidc_auth_role_arn": "arn:aws:iam::1:role/r"}, "give the mount a"),
                            ({"bucket_endpoint_url": "minio:9000"}, "endpoint's URL")):
        with pytest.raises(exception.InvalidError, match=message):
            ketch.CloudBucketMount("b", **kwargs)
    with pytest.raises(exception.InvalidError, match="the bucket alone"):
        ketch.CloudBucketMount("b/raw")


def test_what_s3fs_is_told_for_each_kind_of_bucket(tmp_path):
    def command(wire, creds, owner=None):
        mount = {"path": "/m", "key_prefix": "", "type": "s3", **wire}
        return s3fs_command(mount, tmp_path / "m", tmp_path / "t", creds, owner)

    keys = {"AWS_ACCESS_KEY_ID": "AKIDVALUE", "AWS_SECRET_ACCESS_KEY": "SECRETVALUE"}
    s3 = command({"bucket": "b", "key_prefix": "raw/", "read_only": True}, keys)
    assert s3[1:3] == ["b:/raw", str(tmp_path / "m")]
    assert {"url=https://s3.amazonaws.com", "ro", "sigv4"} <= set(s3)
    assert "public_bucket=1" in command({"bucket": "open"}, {})
    r2 = command({"bucket": "b", "type": "r2",
                  "endpoint_url": "https://acct.r2.cloudflarestorage.com"}, keys)
    assert {"url=https://acct.r2.cloudflarestorage.com", "endpoint=auto"} <= set(r2)
    minio = command({"bucket": "b", "endpoint_url": "http://minio:9000",
                     "force_path_style": True, "requester_pays": True},
                    {**keys, "AWS_SESSION_TOKEN": "TOKENVALUE", "AWS_REGION": "eu-west-1"},
                    (65534, 65534))
    assert {"use_path_request_style", "requester_pays", "use_session_token",
            "endpoint=eu-west-1", "uid=65534", "gid=65534"} <= set(minio)
    assert "VALUE" not in " ".join(minio)  # credentials go by the environment alone


def test_a_gcs_secret_gives_s3fs_its_hmac_key_and_lacking_keys_are_named():
    gcs = {"type": "gcs", "secret_id": "st-1"}
    hmac = {"GOOGLE_ACCESS_KEY_ID": "GOOG1", "GOOGLE_ACCESS_KEY_SECRET": "x"}
    assert credentials(gcs, hmac) == {"AWS_ACCESS_KEY_ID": "GOOG1", "AWS_SECRET_ACCESS_KEY": "x"}
    assert missing(gcs, {"GOOGLE_ACCESS_KEY_ID": "GOOG1"}) == ["GOOGLE_ACCESS_KEY_SECRET"]
    assert missing({"type": "s3", "secret_id": "st-1"}, {}) == [
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
    assert missing({"type": "s3", "secret_id": None}, {}) == []  # a public bucket
