"""Build an image's layers and describe the result for the runtime.

Most steps run in build containers (`buildbox`). A ``debian_slim()`` on the Python ketch runs
on is made on the host from ketch's own environment (`hostenv`), and a ``uv_pip_install`` on
this machine's OS has its bytecode compiled on the host during uv's index check (`pipstep`).

An image from a registry (`pull`) is rooted: its layers are the whole root filesystem, the
host is not beneath it, and its config's environment, working directory, user and entrypoint
come with it. Its ``venv`` step makes ketch's virtualenv on the image's own Python (with the
image's site-packages visible), where later ``pip_install`` steps install.
"""

from __future__ import annotations

import asyncio
import compileall
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import config, exception
from . import buildbox, hostenv, pipstep, pythons, standalone
from .buildbox import ImageBuildError, Log, uv_binary
from .credentials import credentials
from .layers import LayerStore, content_hash, copy_tree, step_hash
from .pull import Pulled, pull
from .steps import PYTHON, SDK, describe, expand


@dataclass
class BuiltImage:
    """What a container needs to start from an image."""

    layers: list[str]  # layer fs directories, lowest first
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    binds: list[list[Any]] = field(default_factory=list)  # [source, target, read_only]
    python: str = PYTHON
    python_path: list[str] = field(default_factory=lambda: [SDK])
    whiteouts: list[str] = field(default_factory=list)  # deleted by a snapshot: see snapshot.py
    rooted: bool = False  # its layers are the whole root (a registry image): no host beneath
    entrypoint: list[str] = field(default_factory=list)  # runs the container's command
    user: str | None = None  # the image's USER (containers run as root, as in Modal)
    digest: str | None = None  # the registry manifest it was pulled from

    def to_wire(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Builder:
    def __init__(self, root: Path, hide: list[str] | None = None) -> None:
        self.store = LayerStore(root / "layers")
        self.mounts = root / "mounts"
        self.hide = [str(root), *(hide or [])]  # kept out of sight of build steps

    async def build(self, steps: list[dict[str, Any]], log: Log) -> BuiltImage:
        started = time.monotonic()
        image = BuiltImage(layers=[], binds=[[sdk_dir(), f"{SDK}/ketch", True]])
        parent, built = "", 0
        for number, step in enumerate(steps, 1):
            kind = step["kind"]
            layer = step_hash(parent, step)
            parent = layer
            if kind in ("env", "workdir", "user", "entrypoint"):
                _configure(image, step)
            elif kind == "registry":
                pulled = await pull(self.store, step["ref"], await asyncio.to_thread(
                    credentials, step), log, bool(step.get("force_build")))
                self._rooted(image, pulled)
                parent = step_hash("", {"kind": "registry", "digest": image.digest})
            elif kind == "base" and not await self._host_python(layer, step):
                parent = await self._registry_python(image, step, log)
                venv = {"kind": "venv", "force_build": step.get("force_build", False)}
                layer = parent = step_hash(parent, venv)
                built += await self._layer(layer, venv, image, number, len(steps), log)
                image.layers.append(str(self.store.path(layer) / "fs"))
            elif kind == "snapshot":  # a sandbox's files, already a layer on this machine
                image.layers.append(str(self._snapshot(step["layer"]) / "fs"))
                image.whiteouts += self.store.meta(step["layer"]).get("whiteouts", [])
            elif kind.startswith("mount_"):
                image.binds.append(self._mount(step, layer))
                if step["remote"].startswith("/root/"):
                    image.python_path.append("/root")
            else:
                fresh = await self._layer(layer, step, image, number, len(steps), log)
                built += fresh
                image.layers.append(str(self.store.path(layer) / "fs"))
                if kind.startswith("copy_") and step["remote"].startswith("/root/"):
                    image.python_path.append("/root")
        if built:
            log(f"image built in {time.monotonic() - started:.1f} s")
        if not image.rooted and not any(step["kind"] == "base" for step in steps):
            image.python, image.python_path = "", []  # the host's own (a sandbox's snapshot)
        return image

    def _rooted(self, image: BuiltImage, pulled: Pulled) -> None:
        """Start ``image`` afresh on a pulled image: its layers, its config."""
        settings = pulled.config
        image.rooted, image.digest = True, pulled.digest
        image.layers = [str(self.store.path(layer) / "fs") for layer in pulled.layers]
        image.env = dict(entry.split("=", 1) for entry in settings.get("Env") or []
                         if "=" in entry)
        image.workdir = settings.get("WorkingDir") or None
        image.user = settings.get("User") or None
        image.entrypoint = list(settings.get("Entrypoint") or [])

    async def _host_python(self, layer: str, step: dict[str, Any]) -> bool:
        """Whether a ``base`` step is built on this machine's OS: unless ``debian_slim =
        "registry"`` says never, when it was before or this machine has that Python."""
        if config.images_settings().get("debian_slim", "host") == "registry":
            return False
        if self.store.exists(layer) and not step.get("force_build"):
            return True
        return await asyncio.to_thread(pythons.have, step["python"])

    async def _registry_python(self, image: BuiltImage, step: dict[str, Any], log: Log) -> str:
        """A ``debian_slim(python_version=X)`` base where this machine has no Python X: the
        registry's ``python:X-slim`` image, as Modal's own debian_slim is; the parent hash of
        the steps that follow."""
        ref = f"python:{step['python']}-slim"
        log(f"debian_slim(python_version={step['python']!r}) uses the registry image {ref}")
        try:
            self._rooted(image, await pull(self.store, ref, None, log,
                                           bool(step.get("force_build"))))
        except exception.Error as exc:
            raise exception.InvalidError(
                f"Python {step['python']} is not installed on this machine, and the image "
                f"{ref} that would bring it could not be had: {exc}. Install Python "
                f"{step['python']} here (pyenv, `uv python install`), or pass a python_version "
                f"this machine has ({', '.join(sorted(pythons.available())) or 'none'})") from exc
        return step_hash("", {"kind": "registry", "digest": image.digest})

    def _snapshot(self, layer: str) -> Path:
        if not self.store.exists(layer):
            raise exception.NotFoundError(
                f"the sandbox snapshot {layer} is not on this machine (snapshots stay on the "
                "machine that took them, until `ketch image prune` removes them)")
        self.store.touch(layer)
        return self.store.path(layer)

    def _mount(self, step: dict[str, Any], layer: str) -> list[Any]:
        if not step.get("ignore"):
            return [step["local"], step["remote"], True]
        snapshot = self.mounts / layer  # a filtered copy: a bind cannot leave files out
        if not snapshot.exists():
            tmp = self.mounts / f"{layer}.tmp-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            copy_tree(step["local"], tmp, step["ignore"], step.get("ignore_root"))
            os.rename(tmp, snapshot)
        return [str(snapshot), step["remote"], True]

    async def _layer(self, layer: str, step: dict[str, Any], image: BuiltImage,
                     number: int, total: int, log: Log) -> bool:
        if self.store.exists(layer) and not step.get("force_build"):
            self.store.touch(layer)
            return False
        fd = await self.store.lock(layer)
        try:
            if self.store.exists(layer) and not step.get("force_build"):
                return False  # someone else built it while we waited
            log(f"building image step {number}/{total}: {describe(step)}")
            tmp = self.store.scratch(layer)
            try:
                if step["kind"].startswith("copy_"):
                    target = tmp / "fs" / step["remote"].lstrip("/")
                    await asyncio.to_thread(copy_tree, step["local"], target, step["ignore"],
                                            step.get("ignore_root"))
                elif step["kind"] == "python":
                    await standalone.install_python(step["version"], tmp / "fs", log)
                elif step["kind"] == "base":
                    python_path = await asyncio.to_thread(pythons.find, step["python"])
                    await asyncio.gather(self._base(step, tmp, image, python_path, log),
                                         _compile_sdk(python_path))
                elif step["kind"] == "pip" and (python := pipstep.host_interpreter(image)):
                    await pipstep.install(step, tmp, image, self.hide, python, log)
                else:
                    await buildbox.run(step, tmp, image, self.hide, None, log)
                if image.rooted:
                    _drop_mount_points(tmp / "fs", image.layers)
            except BaseException:
                self.store.discard(tmp)
                raise
            meta = {"step": describe(step), "kind": step["kind"]}
            if step["kind"] in ("copy_file", "copy_dir"):
                meta["content"] = content_hash(step["local"], step["ignore"],
                                               step.get("ignore_root"))
            self.store.commit(layer, tmp, meta)
            return True
        finally:
            self.store.unlock(fd)

    async def _base(self, step: dict[str, Any], tmp: Path, image: BuiltImage,
                    python_path: str, log: Log) -> None:
        """The virtualenv of a ``debian_slim()`` on this machine's Python: from ketch's own
        environment where the image's Python is the one ketch runs on, else installed by uv."""
        try:
            if python_path == pythons.running(step["python"]) and await asyncio.to_thread(
                    hostenv.build, tmp / "fs", uv_binary(), python_path):
                # where ketch's modules are mounted, as a build container leaves it: so that
                # the image's containers need not make it
                (tmp / "fs" / SDK.lstrip("/") / "ketch").mkdir(parents=True)
                return
        except subprocess.CalledProcessError as exc:
            raise ImageBuildError(
                f"image step {describe(step)} failed: uv could not make the virtualenv "
                f"(exit status {exc.returncode}); nothing of it was cached. Its output:\n"
                f"{exc.output.decode(errors='replace')}") from exc
        await buildbox.run(step, tmp, image, self.hide, python_path, log)


def _configure(image: BuiltImage, step: dict[str, Any]) -> None:
    """A step that changes how the image runs, not its files."""
    kind = step["kind"]
    if kind == "env":
        image.env.update(expand(step["vars"], image.env) if step.get("expand") else step["vars"])
    elif kind == "workdir":
        image.workdir = step["path"]
    elif kind == "user":
        image.user = step["user"]
    else:
        image.entrypoint = list(step["argv"])


def _drop_mount_points(fs: Path, layers: list[str]) -> None:
    """Remove the empty files the build container's binds of the host's name resolution
    left in a layer of an image that has none of its own."""
    for name in ("etc/resolv.conf", "etc/hosts"):
        made = fs / name
        if (made.is_file() and not made.is_symlink() and made.stat().st_size == 0
                and not any(os.path.lexists(os.path.join(layer, name)) for layer in layers)):
            made.unlink()


async def _compile_sdk(python_path: str) -> None:
    """Compile ketch's modules for the image's Python: the container sees them read-only, so
    it could not cache the bytecode itself and would compile them at every start."""
    if python_path == pythons.running(f"{sys.version_info.major}.{sys.version_info.minor}"):
        await asyncio.to_thread(compileall.compile_dir, sdk_dir(), quiet=2, optimize=0)
        return
    proc = await asyncio.create_subprocess_exec(
        python_path, "-m", "compileall", "-q", sdk_dir(),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await proc.wait()


def sdk_dir() -> str:
    import ketch

    return str(Path(ketch.__file__).parent)
