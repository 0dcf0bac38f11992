"""Run an image step's script in a build container, whose writes become the step's layer.

A build container is the namespace runtime's launcher over the parent layers (and the host
OS beneath them, unless the image has a root of its own), with the new layer's directory as
the overlay's upper directory: whatever the step writes becomes the layer. uv's cache is
bound in from the host so that packages are downloaded once per machine, not once per image.
"""

from __future__ import annotations

import asyncio
import marshal
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import exception
from ...backends.rootfs import root_overlays
from .steps import INPUTS, ROOTED_PATH, VENV, describe, runtime_pins, script

if TYPE_CHECKING:
    from .builder import BuiltImage

Log = Callable[[str], None]
NSINIT = str(Path(__file__).resolve().parents[2] / "backends" / "nsinit.py")
TAIL = 40


class ImageBuildError(exception.InvalidError):
    """A build step failed; the message names the step and ends with its output."""


def uv_binary() -> str:
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise exception.InvalidError("uv is not installed: `pip install uv` (ketch builds with it)")
    return found


def uv_cache_dir(uv: str) -> str:
    path = os.environ.get("UV_CACHE_DIR") or os.path.expanduser("~/.cache/uv")
    os.makedirs(path, exist_ok=True)
    return path


async def run(step: dict[str, Any], tmp: Path, image: BuiltImage, hide: list[str],
              python_path: str | None, log: Log, bytecode: bool = True) -> None:
    """Run ``step``'s script (see `steps.script`) over ``image`` so far, into ``tmp / "fs"``;
    ``hide``: host paths masked from a step on the host's OS."""
    inputs = tmp / "inputs"
    inputs.mkdir(exist_ok=True)
    uv = uv_binary()
    cache = uv_cache_dir(uv)
    binds: list[list[Any]] = [[str(inputs), INPUTS, True]]
    if image.rooted:  # the host's uv and cache go where the image has nothing of its own
        (inputs / "uv").touch()
        (inputs / "uv-cache").mkdir()
        binds += [[uv, f"{INPUTS}/uv", True], [cache, f"{INPUTS}/uv-cache", False]]
        binds += [[path, path, True] for path in ("/etc/resolv.conf", "/etc/hosts")
                  if os.path.exists(path)]  # name resolution for apt and pip
        uv, cache = f"{INPUTS}/uv", f"{INPUTS}/uv-cache"
        env = {"HOME": "/root", "PATH": ROOTED_PATH, **image.env,
               **{k: v for k, v in os.environ.items() if k.startswith("UV_")}}
        bundle = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
        if os.path.isfile(bundle):  # this machine's trust (a proxy's CA) for the steps' uv
            (inputs / "ca.crt").touch()
            binds.append([bundle, f"{INPUTS}/ca.crt", True])
            env.setdefault("SSL_CERT_FILE", f"{INPUTS}/ca.crt")
    else:
        binds.append([cache, cache, False])
        env = {**os.environ, **image.env, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    body = script(step, uv, python_path, runtime_pins(), inputs, bytecode)
    config = {
        "cgroup_procs": [], "net": False, "hostname": "ketch-build",
        "root": str(tmp / "root"),
        "overlays": _build_overlays(image.layers, tmp, image.rooted),
        "masks": [] if image.rooted else hide,
        "binds": [*binds, *image.binds],
        "devices": [], "workdir": image.workdir or "/",
    }
    env.update(UV_CACHE_DIR=cache, UV_LINK_MODE="copy", UV_PYTHON_DOWNLOADS="never",
               VIRTUAL_ENV=VENV, PATH=f"{VENV}/bin:{env['PATH']}")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-S", NSINIT, marshal.dumps(config).hex(), "/bin/sh", "-c", body, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    async for raw in proc.stdout:
        line = raw.decode(errors="replace").rstrip()
        lines.append(line)
        log(f"  {line}")
    if await proc.wait() != 0:
        tail = "\n".join(lines[-TAIL:])
        raise ImageBuildError(
            f"image step {describe(step)} failed (exit status {proc.returncode}); nothing "
            f"of it was cached. Its last output:\n{tail}"
        )


def _build_overlays(layers: list[str], tmp: Path, rooted: bool) -> list[list[Any]]:
    """As a container's root (see `root_overlays`), with the new layer as the upper dir."""
    overlays = root_overlays(layers, tmp, rooted)
    overlays[-1][1] = str(tmp / "fs")
    return overlays
