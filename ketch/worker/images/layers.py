"""The layer cache: one directory per layer, named by the hash of its parent and its step.

``<root>/<hash>/fs`` is what the layer adds to the filesystem (an overlay upper directory,
whiteouts included) and ``<root>/<hash>/meta.json`` describes it. A layer is built in a
temporary directory and renamed into place only when its step succeeded, so the cache never
holds half a layer. A lock file per hash makes concurrent builds of one layer build it once.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from ...file_pattern_matcher import kept_files as walk
from .steps import runtime_pins


def step_hash(parent: str, step: dict[str, Any]) -> str:
    """The id of the layer a step makes on top of ``parent``."""
    # Which credentials pulled an image does not change what it is.
    material = {k: v for k, v in step.items() if k not in ("force_build", "secret", "secret_env")}
    if step["kind"] in ("copy_file", "copy_dir", "mount_dir"):
        material["content"] = content_hash(step["local"], step.get("ignore", []),
                                           step.get("ignore_root"))
    if step["kind"] in ("base", "venv"):  # a layer made by older ketch lacks newer packages
        material["runtime"] = runtime_pins()
    if isinstance(material.get("payload"), bytes):
        material["payload"] = hashlib.sha256(material["payload"]).hexdigest()
    blob = json.dumps([parent, material], sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def content_hash(local: str, patterns: list[str], root: str | None = None) -> str:
    digest = hashlib.sha256()
    for rel in walk(local, patterns, root):
        path = os.path.join(local, rel) if rel else local
        digest.update(rel.encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def copy_tree(local: str, target: Path, patterns: list[str], root: str | None = None) -> None:
    """Copy ``local`` (a file or a directory, less ignored paths) to ``target``."""
    for rel in walk(local, patterns, root):
        source = os.path.join(local, rel) if rel else local
        destination = target / rel if rel else target
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)


class LayerStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, layer: str) -> Path:
        return self.root / layer

    def exists(self, layer: str) -> bool:
        return (self.root / layer / "meta.json").exists()

    def touch(self, layer: str) -> None:
        """Record that an image used the layer (`ketch image prune` keeps recent ones)."""
        try:
            meta = self.meta(layer)
        except OSError:
            return
        if time.time() - meta.get("used", 0) > 3600:  # an hour's precision is plenty
            meta["used"] = time.time()
            (self.root / layer / "meta.json").write_text(json.dumps(meta))

    def meta(self, layer: str) -> dict[str, Any]:
        return dict(json.loads((self.root / layer / "meta.json").read_text()))

    def scratch(self, layer: str) -> Path:
        """A fresh directory to build ``layer`` in."""
        tmp = self.root / f"{layer}.building-{os.getpid()}-{time.monotonic_ns()}"
        (tmp / "fs").mkdir(parents=True)
        (tmp / "work").mkdir()
        return tmp

    def commit(self, layer: str, tmp: Path, meta: dict[str, Any]) -> None:
        shutil.rmtree(tmp / "work", ignore_errors=True)
        meta = {**meta, "created": time.time(), "used": time.time(), "size": _size(tmp / "fs")}
        (tmp / "meta.json").write_text(json.dumps(meta))
        final = self.root / layer
        if final.exists():  # force_build replaces the old layer
            shutil.rmtree(final)
        os.rename(tmp, final)

    def discard(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    async def lock(self, layer: str) -> int:
        """Hold the layer's lock (across processes); returns the fd to `unlock`."""
        fd = os.open(self.root / f"{layer}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                await asyncio.sleep(0.05)

    def unlock(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def list(self) -> list[dict[str, Any]]:
        layers = []
        for entry in sorted(self.root.iterdir()):
            if (entry / "meta.json").exists():
                layers.append({"id": entry.name, **self.meta(entry.name)})
        return layers

    def remove(self, layer: str) -> None:
        shutil.rmtree(self.root / layer, ignore_errors=True)
        (self.root / f"{layer}.lock").unlink(missing_ok=True)

    def clean_partial(self) -> None:
        """Remove directories of builds that died half way."""
        for entry in self.root.glob("*.building-*"):
            shutil.rmtree(entry, ignore_errors=True)


def _size(path: Path) -> int:
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total
