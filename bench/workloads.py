"""The functions and images the benchmarks run.

The functions live at the top level of their own module because ketch containers import user
code by module name (as Modal's do), and `multiprocessing` workers unpickle functions by
reference.
"""

from __future__ import annotations

from typing import Any

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
