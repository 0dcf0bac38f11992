"""A Modal program that mounts an S3-compatible bucket (MinIO-style: an endpoint URL and
path-style requests), as Modal's docs show: read and write through the mount, a read-only
mount, and a mount scoped to a key prefix, in functions and in a sandbox. ``read_seed`` only
reads an object by name."""

import errno
import os

import modal

BUCKET = os.environ.get("BUCKET", "ketch-data")
ENDPOINT = os.environ.get("BUCKET_ENDPOINT_URL")
secret = modal.Secret.from_name(os.environ.get("BUCKET_SECRET", "bucket-creds"))


def bucket(**kwargs):
    return modal.CloudBucketMount(BUCKET, bucket_endpoint_url=ENDPOINT, secret=secret,
                                  force_path_style=True, **kwargs)


app = modal.App("compat-buckets")


@app.function(volumes={"/bucket": bucket()})
def write_and_read(text):
    with open("/bucket/seed.txt") as f:
        seed = f.read()
    os.makedirs("/bucket/out", exist_ok=True)
    with open("/bucket/out/result.txt", "w") as f:
        f.write(f"{seed.strip()} + {text}")
    return seed.strip(), sorted(os.listdir("/bucket"))


@app.function(volumes={"/ro": bucket(read_only=True)})
def try_writing():
    try:
        with open("/ro/forbidden.txt", "w") as f:
            f.write("no")
    except OSError as exc:
        return errno.errorcode[exc.errno]
    return "written"


@app.function(volumes={"/scoped": bucket(key_prefix="scoped/")})
def scoped():
    with open("/scoped/inside.txt", "w") as f:
        f.write("scoped write")
    return sorted(os.listdir("/scoped"))


@app.function(volumes={"/bucket": bucket(read_only=True)})
def seed():
    with open("/bucket/seed.txt") as f:
        return f.read().strip()


@app.local_entrypoint()
def read_seed():
    print("seed", seed.remote())


@app.local_entrypoint()
def main():
    print("read", write_and_read.remote("ketch"))
    print("read-only", try_writing.remote())
    print("scoped", scoped.remote())
    sb = modal.Sandbox.create(app=app, volumes={"/mnt": bucket()})
    p = sb.exec("python3", "-c", "print(open('/mnt/seed.txt').read().strip());"
                "open('/mnt/from-sandbox.txt', 'w').write('sandboxed')")
    print("sandbox", p.stdout.read().strip(), p.wait(), p.stderr.read().strip() or "-")
    sb.terminate()
