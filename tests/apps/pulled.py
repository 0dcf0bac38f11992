"""A function and a class that run in an image pulled from the tests' registry, whose
reference the test passes in KETCH_TEST_PULLED_IMAGE (in a container, the image is already
built: the name only has to parse)."""

import os
import sys

import ketch

REF = os.environ.get("KETCH_TEST_PULLED_IMAGE", "127.0.0.1:5000/debian-python:bookworm")
image = ketch.Image.from_registry(REF).env({"ADDED": "by-ketch"}).uv_pip_install("six==1.16.0")
app = ketch.App("pulled", image=image)


@app.function(runtime="namespace")
def inspect():
    with image.imports():
        import six
    with open("/etc/os-release") as f:
        os_release = dict(line.strip().split("=", 1) for line in f if "=" in line)
    return {
        "python": list(sys.version_info[:2]),
        "executable": sys.executable,
        "six": six.__version__,
        "from_image": os.environ.get("FROM_IMAGE"),
        "added": os.environ.get("ADDED"),
        "cwd": os.getcwd(),
        "os": os_release.get("VERSION_CODENAME"),
        "host_sdk_seen": os.path.exists(os.path.join(os.path.dirname(__file__), "..", "..",
                                                     "pyproject.toml")),
    }


@app.function(runtime="namespace")
def environment(name):
    return os.environ.get(name)
