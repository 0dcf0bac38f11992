"""The functions and images the benchmarks run.

The functions live at the top level of their own module because ketch containers import user
code by module name (as Modal's do), and `multiprocessing` workers unpickle functions by
reference.
"""

from __future__ import annotations

import os
import time
from typing import Any

import webapp

import ketch

app = ketch.App("bench")


@app.function()
def noop(x: Any = None) -> Any:
    return x


# d) the same no-op in an image (the host's OS with the running Python in a venv), in the
# namespace runtime: isolated, on an overlay of the image's layers.
image_app = ketch.App("bench-image", image=ketch.Image.debian_slim())


@image_app.function(runtime="namespace")
def noop_in_image(x: Any = None) -> Any:
    return x


def plain_noop(x: Any = None) -> Any:
    """The same no-op for `multiprocessing.Pool`, which needs no decorator."""
    return x


# e) an image of three layers, all of them built before the cache hits are timed.
CACHED_IMAGE = (
    ketch.Image.debian_slim().uv_pip_install("six==1.16.0").run_commands("echo x > /opt/x")
)

# f) small pure-Python packages, installed by ketch's image builder and by plain uv.
BUILD_PACKAGES = ["six==1.16.0", "idna==3.10", "certifi==2024.8.30"]
BUILD_IMAGE = ketch.Image.debian_slim().uv_pip_install(BUILD_PACKAGES)


# g) the same file I/O (`disk_io`) in a container, on a volume mounted at /data, and on the host.
volume = ketch.Volume.from_name("bench-volume", create_if_missing=True)
volume_app = ketch.App("bench-volume")
READ_FILE = "read.bin"  # written before the timing: on the volume, committed by an upload
WRITE_FILE = "bench.bin"
BLOCK = 4 * 2**20


@volume_app.function(runtime="namespace", volumes={"/data": volume})
def volume_io(mib: int) -> dict[str, float]:
    return disk_io("/data", mib)


def fill(path: str, mib: int) -> float:
    """Write ``mib`` MiB to ``path`` in 4 MiB blocks of one buffer, flushed to the disk before
    the file is closed; the seconds it took."""
    block = bytes(range(256)) * (BLOCK // 256)  # not zeros, which a filesystem might elide
    size = mib * 2**20
    start = time.perf_counter()
    with open(path, "wb") as f:
        for offset in range(0, size, BLOCK):
            f.write(block if size - offset >= BLOCK else block[: size - offset])
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - start


def disk_io(directory: str, mib: int) -> dict[str, float]:
    """Time writing a new file of ``mib`` MiB in ``directory`` (then removed, untimed), and
    reading the whole of `READ_FILE`, written there beforehand, in 4 MiB blocks."""
    written = os.path.join(directory, WRITE_FILE)
    write_s = fill(written, mib)
    os.remove(written)  # never in the volume's lower layer, so this leaves nothing to commit
    buffer = bytearray(BLOCK)
    total = 0
    start = time.perf_counter()
    with open(os.path.join(directory, READ_FILE), "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            total += n
    read_s = time.perf_counter() - start
    return {"write_s": write_s, "write_bytes": mib * 2**20, "read_s": read_s,
            "read_bytes": total}


# h) requests per second through the gateway, to a container kept warm (min_containers=1) that
# takes up to 100 requests at once. The app is `webapp.make_app()`, which plain uvicorn serves
# too.
web_app = ketch.App("bench-web")


@web_app.function(min_containers=1, cpu=1.0)  # the CPU weight of plain uvicorn's (systems.py)
@ketch.concurrent(max_inputs=100)
@ketch.asgi_app()
def web_hello() -> Any:
    return webapp.make_app()


# i) a burst of requests at an endpoint with no container running: up to 10 containers of 4
# requests at once, each request holding its slot for BURST_SLEEP_S. j) the first request of
# the same app as h) with no container running. A fresh app.run() per sample registers new
# functions, so none has a container.
cold_web_app = ketch.App("bench-web-cold")
BURST_SLEEP_S = 0.1


@cold_web_app.function(max_containers=10)
@ketch.concurrent(max_inputs=4)
@ketch.fastapi_endpoint()
async def web_sleep() -> str:
    import asyncio

    await asyncio.sleep(BURST_SLEEP_S)
    return "slept"


@cold_web_app.function(cpu=1.0)
@ketch.asgi_app()
def web_hello_cold() -> Any:
    return webapp.make_app()


# k) a burst of container starts: 100 inputs that each sleep long enough that the autoscaler,
# which grows with the time per input and the backlog, asks for one container per input. Each
# returns where it ran (in the namespace runtime a container's hostname is its id) and when it
# began, by the wall clock that the bench process shares.
burst_app = ketch.App("bench-burst")
BURST_CONTAINERS = 100
BURST_INPUT_S = 2.0


@burst_app.function(cpu=0.01, memory=32, max_containers=BURST_CONTAINERS)
def sleep_where(seconds: float) -> tuple[str, float]:
    started = time.time()
    time.sleep(seconds)
    return os.uname().nodename, started
