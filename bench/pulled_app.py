"""p) The same no-op in an image pulled from the bench's local registry and in the host-based
`Image.debian_slim()`, both in the namespace runtime.

The pulled image's reference names a registry on a port chosen at each run: `images_bench`
passes it in KETCH_BENCH_PULLED_IMAGE before importing this module. In a container the image is
built already and the reference only has to parse, so the default does. The module imports
nothing but ketch: a pulled image's container sees this folder (the module's root, bound in),
not the host's packages.
"""

from __future__ import annotations

import os
from typing import Any

import ketch

REF = os.environ.get("KETCH_BENCH_PULLED_IMAGE", "127.0.0.1:5000/bench/python:bookworm")

pulled_app = ketch.App("bench-pulled", image=ketch.Image.from_registry(REF))


@pulled_app.function(runtime="namespace")
def noop_pulled(x: Any = None) -> Any:
    return x


@pulled_app.function(runtime="namespace")
def where_pulled() -> dict[str, Any]:
    """Checked once, untimed: the image's mark in the environment and the interpreter."""
    return where()


host_app = ketch.App("bench-pulled-host", image=ketch.Image.debian_slim())


@host_app.function(runtime="namespace")
def noop_host(x: Any = None) -> Any:
    return x


@host_app.function(runtime="namespace")
def where_host() -> dict[str, Any]:
    return where()


def where() -> dict[str, Any]:
    import sys

    return {"image": os.environ.get("KETCH_BENCH_IMAGE"), "python": sys.executable,
            "version": sys.version.split()[0]}
