"""The volumes service: files of volumes, their versions, and the mounts of containers.

Requests from clients read and change the latest version. For a container, `prepare` says
what to mount (the latest version under a writable layer of the container's own), `volume_commit`
turns the container's layer into a new version, `volume_reload` gives it a fresh layer over the
latest version, and `finish` commits what a container left when it ends.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from .. import exception
from .objects import NamedObjects
from .store import Store
from .volume_storage import (
    LocalVolumeStorage,
    VolumeStorage,
    apply_overlay_upper,
    entry,
    inside,
    remove,
    replace_file,
)

REQUESTS = ("volume_listdir", "volume_read", "volume_upload", "volume_upload_commit",
            "volume_remove", "volume_copy", "volume_commit", "volume_reload")
INSIDE = "/run/ketch/volumes"  # where a container sees the versions and its own layers
MAX_CHUNK = 16 * 2**20


class VolumeService:
    def __init__(self, store: Store, objects: NamedObjects, root: Path | None = None,
                 url: str | None = None) -> None:
        """``root``: where versions (or, with an fsspec ``url`` keeping them, their cache) and
        containers' layers live; the store's directory by default."""
        self.objects = objects
        home = root if root is not None else store.path.parent
        self.storage: VolumeStorage
        if url:
            from .fsspec_storage import FsspecVolumeStorage

            self.storage = FsspecVolumeStorage(url, home / "volume-cache")
        else:
            self.storage = LocalVolumeStorage(home / "volumes")
        self.scratch = home / "volume-layers"
        self.uploads = home / "volume-uploads"
        self.layers: dict[tuple[str, str], int] = {}  # (container, volume) -> current layer
        objects.droppers["volume"] = self.drop

    def drop(self, object_id: str) -> None:
        self.storage.drop(object_id)

    def _check(self, volume_id: str) -> None:
        self.objects.kind_of(volume_id, "volume")

    # -- containers ----------------------------------------------------------------------------

    def prepare(self, container_id: str, mounts: dict[str, str]) -> list[dict[str, Any]]:
        """What a starting container mounts, for `ContainerSpec.volumes`."""
        specs = []
        for mount, volume_id in mounts.items():
            self._check(volume_id)
            version, lower = self.storage.latest(volume_id)
            upper, work = self._layer(container_id, volume_id, 0)
            specs.append({
                "volume_id": volume_id, "mount": mount, "lower": str(lower),
                "upper": str(upper), "work": str(work),
                "binds": [[str(self.storage.versions_dir(volume_id)), f"{INSIDE}/{volume_id}", True],
                          [str(self.scratch / container_id / volume_id),
                           f"{INSIDE}/layers/{volume_id}", False]],
            })
        return specs

    def _layer(self, container_id: str, volume_id: str, index: int) -> tuple[Path, Path]:
        self.layers[(container_id, volume_id)] = index
        base = self.scratch / container_id / volume_id
        upper, work = base / f"upper-{index}", base / f"work-{index}"
        upper.mkdir(parents=True)
        work.mkdir()
        os.chmod(upper, 0o777)
        return upper, work

    async def volume_commit(self, volume_id: str, container_id: str) -> dict[str, Any]:
        index = self.layers.get((container_id, volume_id))
        if index is None:
            raise exception.InvalidError(f"volume {volume_id} is not mounted in {container_id}")
        upper = self.scratch / container_id / volume_id / f"upper-{index}"
        version = await asyncio.to_thread(
            self.storage.new_version, volume_id, apply_overlay_upper(upper)
        )
        return {"version": version}

    async def volume_reload(self, volume_id: str, container_id: str) -> dict[str, Any]:
        index = self.layers.get((container_id, volume_id))
        if index is None:
            raise exception.InvalidError(f"volume {volume_id} is not mounted in {container_id}")
        version, _ = self.storage.latest(volume_id)
        self._layer(container_id, volume_id, index + 1)
        layers = f"{INSIDE}/layers/{volume_id}"
        return {"version": version, "lower": f"{INSIDE}/{volume_id}/{version}",
                "upper": f"{layers}/upper-{index + 1}", "work": f"{layers}/work-{index + 1}"}

    async def finish(self, container_id: str) -> None:
        """Commit what an ending container changed in its volumes, then forget its layers."""
        for (cid, volume_id), index in list(self.layers.items()):
            if cid != container_id:
                continue
            del self.layers[(cid, volume_id)]
            upper = self.scratch / container_id / volume_id / f"upper-{index}"
            if upper.exists() and any(upper.iterdir()):
                await asyncio.to_thread(self.storage.new_version, volume_id,
                                        apply_overlay_upper(upper, final=True))
        await asyncio.to_thread(shutil.rmtree, self.scratch / container_id, True)

    # -- clients -------------------------------------------------------------------------------

    async def volume_listdir(self, volume_id: str, path: str, recursive: bool) -> dict[str, Any]:
        self._check(volume_id)
        _, tree = self.storage.latest(volume_id)
        start = inside(tree, path)
        if not start.exists():
            raise exception.NotFoundError(f"no such path in the volume: {path}")
        if start.is_file():
            return {"entries": [entry(tree, start)]}
        found = []
        for directory, subdirs, files in os.walk(start):
            for name in sorted(subdirs + files):
                found.append(entry(tree, Path(directory) / name))
            if not recursive:
                break
        return {"entries": found}

    async def volume_read(self, volume_id: str, path: str, offset: int, length: int
                          ) -> dict[str, Any]:
        self._check(volume_id)
        _, tree = self.storage.latest(volume_id)
        target = inside(tree, path)
        if not target.is_file():
            raise exception.NotFoundError(f"no such file in the volume: {path}")

        def read() -> bytes:
            with open(target, "rb") as f:
                f.seek(offset)
                return f.read(min(length, MAX_CHUNK))

        data = await asyncio.to_thread(read)  # off the loop: other requests go on meanwhile
        return {"data": data, "size": target.stat().st_size}

    async def volume_upload(self, volume_id: str, path: str, offset: int, data: bytes,
                            upload_id: str | None) -> dict[str, Any]:
        self._check(volume_id)
        upload_id = upload_id or f"up-{secrets.token_hex(8)}"
        if "/" in upload_id:
            raise exception.InvalidError("bad upload id")
        target = inside(self.uploads / upload_id, path)
        target.parent.mkdir(parents=True, exist_ok=True)

        def write() -> None:
            with open(target, "r+b" if target.exists() else "wb") as f:
                f.seek(offset)
                f.write(data)

        await asyncio.to_thread(write)
        return {"upload_id": upload_id}

    async def volume_upload_commit(self, volume_id: str, upload_id: str, force: bool
                                   ) -> dict[str, Any]:
        self._check(volume_id)
        staged = self.uploads / upload_id

        def apply(tree: Path) -> None:
            for directory, _, files in os.walk(staged):
                for name in files:
                    source = Path(directory) / name
                    target = tree / source.relative_to(staged)
                    if target.exists() and not force:
                        raise exception.ConflictError(
                            f"{source.relative_to(staged)} already exists in the volume; "
                            "pass force=True (or --force) to overwrite it"
                        )
                    replace_file(source, target, link=True)  # staging is thrown away after

        try:
            version = await asyncio.to_thread(self.storage.new_version, volume_id, apply)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        return {"version": version}

    async def volume_remove(self, volume_id: str, path: str, recursive: bool) -> dict[str, Any]:
        self._check(volume_id)
        await asyncio.to_thread(self.storage.new_version, volume_id,
                                lambda tree: remove(inside(tree, path), recursive))
        return {}

    async def volume_copy(self, volume_id: str, src_paths: list[str], dst_path: str
                          ) -> dict[str, Any]:
        self._check(volume_id)

        def apply(tree: Path) -> None:
            destination = inside(tree, dst_path)
            for src in src_paths:
                source = inside(tree, src)
                if not source.exists():
                    raise exception.NotFoundError(f"no such path in the volume: {src}")
                target = destination / source.name if destination.is_dir() else destination
                if source.is_dir():
                    shutil.copytree(source, target, dirs_exist_ok=True)
                else:
                    replace_file(source, target)

        await asyncio.to_thread(self.storage.new_version, volume_id, apply)
        return {}
