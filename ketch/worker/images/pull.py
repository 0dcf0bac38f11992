"""Pull a registry image into the layer store: each layer once, in parallel, verified.

Example::

    pulled = await pull(store, "python:3.12-slim", credentials=None, log=print)
    pulled.layers   # layer ids in the store, lowest first
    pulled.config   # the image's config: Env, WorkingDir, Entrypoint, User ...

A pulled layer is stored as ``oci-<digest>`` (its compressed digest), so images that share
base layers share them on disk and a second image downloads only its own. What a tag
resolved to is kept too (``ref-<hash>``): a later build of the same image uses it without
asking the registry, as a build step's layer is reused, until ``force_build``. With
``offline = true`` in ``[images]`` only that record and the layers on disk are used.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import config, exception
from ...image_reference import Reference, machine_architecture
from .layers import LayerStore
from .registry import Descriptor, Manifest, RegistryClient
from .unpack import tar_options, unpack

Log = Callable[[str], None]
Watch = Callable[[int, int, int, int], None]  # layers done, layers, bytes done, bytes in all
PARALLEL = 4  # layers downloaded at once (as docker's default of 3, skopeo's 6)
PROGRESS_S = 1.0


@dataclass
class Pulled:
    ref: str
    digest: str  # the platform manifest's
    layers: list[str]  # layer ids, lowest first
    config: dict[str, Any]  # the image config's "config" (Env, WorkingDir, Entrypoint, ...)


def layer_id(digest: str) -> str:
    return "oci-" + digest.split(":", 1)[-1][:32]


def _record_id(ref: Reference, credentials: dict[str, str] | None) -> str:
    """The record of what ``ref`` resolved to, for these credentials: a private image pulled
    with one secret is not handed to a build that names none, or another."""
    key = json.dumps([str(ref), machine_architecture(), credentials], sort_keys=True)
    return "ref-" + hashlib.sha256(key.encode()).hexdigest()[:32]


async def pull(store: LayerStore, name: str, credentials: dict[str, str] | None, log: Log,
               force: bool = False, watch: Watch | None = None) -> Pulled:
    """Pull ``name`` into ``store`` (what is there already is not downloaded again).
    ``log`` gets a line of progress each second, or ``watch`` the figures, for a bar."""
    ref = Reference.parse(name)
    settings = config.images_settings()
    record = _record_id(ref, credentials)
    if store.exists(record) and not force:
        known = _known(store, record)
        if known is not None:
            return known
    if settings.get("offline"):
        raise exception.InvalidError(
            f"image {name} is not on this machine and [images] offline = true in config.toml "
            "forbids pulling it; pull it once with offline unset (or copy KETCH_HOME/images "
            "from a machine that has it)")
    async with RegistryClient(ref, credentials, settings) as registry:
        manifest = await registry.manifest()
        document = json.loads(await registry.blob_bytes(manifest.config, f"the config of {ref}"))
        _check_platform(ref, document)
        for layer in manifest.layers:
            tar_options(layer.media_type)  # refuse an unknown kind before downloading any
        await _layers(store, registry, manifest, log, watch)
    pulled = Pulled(name, manifest.digest, [layer_id(layer.digest) for layer in manifest.layers],
                    dict(document.get("config") or {}))
    tmp = store.scratch(record)
    store.commit(record, tmp, {"step": f"from_registry({name})", "kind": "ref",
                               "ref": name, "digest": pulled.digest, "layers": pulled.layers,
                               "config": pulled.config})
    return pulled


def _known(store: LayerStore, record: str) -> Pulled | None:
    meta = store.meta(record)
    if not all(store.exists(layer) for layer in meta["layers"]):
        return None  # a layer was pruned: pull again
    store.touch(record)
    for layer in meta["layers"]:
        store.touch(layer)
    return Pulled(meta["ref"], meta["digest"], list(meta["layers"]), dict(meta["config"]))


def _check_platform(ref: Reference, document: dict[str, Any]) -> None:
    arch, os_name = document.get("architecture"), document.get("os")
    if arch and (arch != machine_architecture() or (os_name and os_name != "linux")):
        raise exception.InvalidError(
            f"{ref} is built for {os_name}/{arch}, and this machine is "
            f"linux/{machine_architecture()}; use a tag built for it (a multi-platform one)")


async def _layers(store: LayerStore, registry: RegistryClient, manifest: Manifest,
                  log: Log, watch: Watch | None) -> None:
    """Download and unpack the layers not yet in the store, ``PARALLEL`` at a time."""
    todo = list({d.digest: d for d in manifest.layers
                 if not store.exists(layer_id(d.digest))}.values())
    have = len(manifest.layers) - len(todo)
    total = sum(layer.size for layer in todo)
    progress = _Progress(str(registry.ref), len(todo), total, log, watch)
    if have:
        log(f"pulling {registry.ref}: {have} of its {len(manifest.layers)} layers are here already")
    gate = asyncio.Semaphore(PARALLEL)

    async def one(descriptor: Descriptor) -> None:
        async with gate:
            await _layer(store, registry, descriptor, progress)
            progress.layers_done += 1

    ticker = asyncio.ensure_future(progress.tick())
    try:
        await asyncio.gather(*(one(layer) for layer in todo))
    finally:
        ticker.cancel()
    if todo:
        progress.report(final=True)


async def _layer(store: LayerStore, registry: RegistryClient, descriptor: Descriptor,
                 progress: _Progress) -> None:
    layer = layer_id(descriptor.digest)
    fd = await store.lock(layer)
    try:
        if store.exists(layer):
            return  # another build pulled it while we waited
        tmp = store.scratch(layer)
        try:
            await unpack(registry.blob(descriptor), descriptor.digest, descriptor.media_type,
                         tmp / "fs", progress.add)
        except exception.Error as exc:
            store.discard(tmp)
            raise type(exc)(f"pulling {registry.ref}: {exc}") from exc
        except BaseException:
            store.discard(tmp)
            raise
        await asyncio.to_thread(  # it walks the layer for its size: off the other downloads
            store.commit, layer, tmp, {"step": f"layer {descriptor.digest} of {registry.ref}",
                                       "kind": "pulled", "digest": descriptor.digest,
                                       "compressed": descriptor.size})
    finally:
        store.unlock(fd)


class _Progress:
    """Lines of the form ``pulling REF: 2/5 layers, 45.1/120.3 MB, 80.2 MB/s``."""

    def __init__(self, ref: str, layers: int, total: int, log: Log, watch: Watch | None) -> None:
        self.ref, self.layers, self.total, self.log, self.watch = ref, layers, total, log, watch
        self.layers_done = 0
        self.done = 0
        self.started = time.monotonic()

    def add(self, count: int) -> None:
        self.done += count
        if self.watch is not None:
            self.watch(self.layers_done, self.layers, self.done, self.total)

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_S)
            self.report()

    def report(self, final: bool = False) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed / 1e6
        if final:
            if self.watch is not None:
                self.watch(self.layers, self.layers, self.done, self.total)
            self.log(f"pulled {self.ref}: {self.layers} layers, {self.done / 1e6:.1f} MB in "
                     f"{elapsed:.1f} s ({rate:.1f} MB/s)")
        elif self.watch is None:
            self.log(f"pulling {self.ref}: {self.layers_done}/{self.layers} layers, "
                     f"{self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB, {rate:.1f} MB/s")
