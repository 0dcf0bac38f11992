"""A real S3-compatible server on 127.0.0.1 for tests of cloud bucket mounts.

The server is moto's (``moto[server]``, a Flask app speaking the S3 REST API over HTTP), run
as a subprocess; the test reads and writes its buckets with boto3, the way another program
sharing the bucket would. Nothing leaves this machine. This is the edge the tests substitute:
what stands for AWS S3 (or R2, GCS, MinIO); ketch reaches it through s3fs exactly as it would
reach those.

    s3 = S3Server.start()
    s3.client.create_bucket(Bucket="data")
    key_id, secret = s3.require_credentials()   # from now on only this key is accepted
    ...
    s3.stop()

Without `require_credentials` the server takes any key (moto's default). With it, requests
are checked against a real IAM key, so a wrong key is refused as AWS refuses it. (moto then
recomputes the SigV4 signature of listings differently from s3fs, so in that mode the tests
read objects by name only.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Any

REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class S3Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.client = self.boto("any-key", "any-secret")

    @classmethod
    def start(cls, timeout: float = 30.0) -> S3Server:
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "AWS_DEFAULT_REGION": REGION})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return cls(process, port)
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.1)
        process.kill()
        raise RuntimeError("moto's S3 server did not start")

    def boto(self, key_id: str, secret: str) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=key_id, aws_secret_access_key=secret)

    def require_credentials(self) -> tuple[str, str]:
        """Make an IAM user allowed everything and return its key; from then on the server
        refuses any other key."""
        import boto3

        iam = boto3.client("iam", endpoint_url=self.url, region_name=REGION,
                           aws_access_key_id="any-key", aws_secret_access_key="any-secret")
        iam.create_user(UserName="ketch-test")
        iam.put_user_policy(UserName="ketch-test", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="ketch-test")["AccessKey"]
        request = urllib.request.Request(f"{self.url}/moto-api/reset-auth", data=b"0",
                                         headers={"Content-Type": "text/plain"}, method="POST")
        urllib.request.urlopen(request, timeout=10).read()
        self.client = self.boto(key["AccessKeyId"], key["SecretAccessKey"])
        return key["AccessKeyId"], key["SecretAccessKey"]

    def keys(self, bucket: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
