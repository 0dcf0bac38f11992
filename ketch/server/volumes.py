"""The volumes service: files of volumes, their versions, and the mounts of containers.

Requests from clients read and change the latest version. For a container, `prepare` says
what to mount (the latest version under a writable layer of the container's own), `volume_commit`
turns the container's layer into a new version, `volume_reload` gives it a fresh layer over the
latest version, and `finish` commits what a container left when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any

from .. import exception
from ..protocol import client as protocol
from .auth import Identity
from .objects import NamedObjects
from .store import Store
from .volume_storage import LocalVolumeStorage, VolumeStorage
from .volume_tree import (
    DIRECTORY,
    Tree,
    apply_overlay_upper,
    clear,
    copy_link,
    has_changes,
    link_file,
    merge,
    names,
    write_file,
)

INSIDE = "/run/ketch/volumes"  # where a container sees the versions and its own layers
MAX_CHUNK = 16 * 2**20
log = logging.getLogger("ketch")


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
        self.open_uploads: dict[str, str] = {}  # upload id -> its volume
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
        upper.mkdir(parents=True)  # fails on anything the container put there beforehand
        work.mkdir()
        fd = os.open(upper, DIRECTORY)  # not a chmod by name, which a swapped-in link redirects
        try:
            os.fchmod(fd, 0o777)  # the volume's root inside: writable by any user it runs as
        finally:
            os.close(fd)
        return upper, work

    async def volume_commit(self, req: protocol.VolumeCommit, caller: Identity
                            ) -> protocol.Version:
        volume_id, container_id = req.volume_id, req.container_id
        index = self._mounted(volume_id, container_id)
        upper = self.scratch / container_id / volume_id / f"upper-{index}"
        version = await asyncio.to_thread(
            self.storage.new_version, volume_id, apply_overlay_upper(upper)
        )
        return protocol.Version(version=version)

    async def volume_reload(self, req: protocol.VolumeReload, caller: Identity
                            ) -> protocol.Remount:
        """The volume's latest version, under a new layer of the container's own. What the
        container wrote is committed first, as Modal says a reload may do: a program that
        writes, reloads and reads back finds its writes (they were never dropped in Modal)."""
        volume_id, container_id = req.volume_id, req.container_id
        index = self._mounted(volume_id, container_id)
        upper = self.scratch / container_id / volume_id / f"upper-{index}"
        if has_changes(upper):
            await asyncio.to_thread(self.storage.new_version, volume_id,
                                    apply_overlay_upper(upper))
        version, _ = self.storage.latest(volume_id)
        self._layer(container_id, volume_id, index + 1)
        layers = f"{INSIDE}/layers/{volume_id}"
        return protocol.Remount(version=version, lower=f"{INSIDE}/{volume_id}/{version}",
                                upper=f"{layers}/upper-{index + 1}",
                                work=f"{layers}/work-{index + 1}")

    def _mounted(self, volume_id: str, container_id: str) -> int:
        """The container's current layer of the volume."""
        index = self.layers.get((container_id, volume_id))
        if index is None:
            raise exception.InvalidError(f"volume {volume_id} is not mounted in {container_id}")
        return index

    async def finish(self, container_id: str) -> None:
        """Commit what an ending container changed in its volumes, then forget its layers."""
        for (cid, volume_id), index in list(self.layers.items()):
            if cid != container_id:
                continue
            del self.layers[(cid, volume_id)]
            upper = self.scratch / container_id / volume_id / f"upper-{index}"
            if not has_changes(upper):
                continue
            try:
                await asyncio.to_thread(self.storage.new_version, volume_id,
                                        apply_overlay_upper(upper, final=True))
            except exception.Error as exc:  # what the container left is unusable: only it is lost
                log.warning("changes of container %s to volume %s not kept: %s",
                            container_id, volume_id, exc)
        await asyncio.to_thread(shutil.rmtree, self.scratch / container_id, True)

    # -- clients -------------------------------------------------------------------------------

    async def volume_listdir(self, req: protocol.VolumeListdir, caller: Identity
                             ) -> protocol.Entries:
        self._check(req.volume_id)
        _, version = self.storage.latest(req.volume_id)

        def listdir() -> list[dict[str, Any]]:
            with Tree(version) as tree:
                return tree.entries(names(req.path), req.recursive)

        entries = await asyncio.to_thread(listdir)
        return protocol.Entries(entries=[protocol.FileEntry(**entry) for entry in entries])

    async def volume_read(self, req: protocol.VolumeRead, caller: Identity) -> protocol.Chunk:
        self._check(req.volume_id)
        _, version = self.storage.latest(req.volume_id)

        def read() -> tuple[bytes, int]:
            with Tree(version) as tree:
                fd = tree.open_file(names(req.path))
            try:
                return os.pread(fd, min(req.length, MAX_CHUNK), req.offset), os.fstat(fd).st_size
            finally:
                os.close(fd)

        data, size = await asyncio.to_thread(read)  # off the loop: other requests go on meanwhile
        return protocol.Chunk(data=data, size=size)

    async def volume_upload(self, req: protocol.VolumeUpload, caller: Identity
                            ) -> protocol.UploadId:
        volume_id, upload_id, data, offset = req.volume_id, req.upload_id, req.data, req.offset
        self._check(volume_id)
        parts = names(req.path)
        if not parts:
            raise exception.InvalidError("an upload needs a file path in the volume, not its root")
        if upload_id is None:
            upload_id = f"up-{secrets.token_hex(8)}"
            (self.uploads / upload_id).mkdir(parents=True)
            self.open_uploads[upload_id] = volume_id
        self._upload_of(volume_id, upload_id)

        def write() -> None:
            with Tree(self.uploads / upload_id) as staged:
                with staged.directory(parts[:-1], create=True) as folder:
                    write_file(folder, parts[-1], data, offset)

        await asyncio.to_thread(write)
        return protocol.UploadId(upload_id=upload_id)

    def _upload_of(self, volume_id: str, upload_id: str) -> None:
        """Only an upload this service began, for this volume, may be written or committed."""
        if self.open_uploads.get(upload_id) != volume_id:
            raise exception.InvalidError(
                f"{upload_id!r} is not an upload in progress for this volume (uploads do not "
                "outlive the control plane): upload the files again")

    async def volume_upload_commit(self, req: protocol.VolumeUploadCommit, caller: Identity
                                   ) -> protocol.Version:
        volume_id, upload_id, force = req.volume_id, req.upload_id, req.force
        self._check(volume_id)
        self._upload_of(volume_id, upload_id)
        staged = self.uploads / upload_id

        def exists(path: str) -> None:
            if not force:
                raise exception.ConflictError(
                    f"{path} already exists in the volume; pass force=True (or --force) to "
                    "overwrite it")

        def apply(version: Path) -> None:
            with Tree(version) as tree, Tree(staged) as files:
                merge(tree, [], files.fd, link=True, conflict=exists)  # staging is thrown away

        try:
            version = await asyncio.to_thread(self.storage.new_version, volume_id, apply)
        finally:
            del self.open_uploads[upload_id]
            await asyncio.to_thread(shutil.rmtree, staged, True)
        return protocol.Version(version=version)

    async def volume_remove(self, req: protocol.VolumeRemove, caller: Identity
                            ) -> protocol.Empty:
        volume_id, path, recursive = req.volume_id, req.path, req.recursive
        self._check(volume_id)
        parts = names(path)

        def apply(version: Path) -> None:
            if not parts:
                raise exception.InvalidError("the volume's root cannot be removed")
            with Tree(version) as tree:
                folder = stat.S_ISDIR(tree.lstat(parts).st_mode)
                if folder and not recursive and tree.entries(parts, recursive=False):
                    raise exception.InvalidError(
                        f"{path} is a directory that is not empty: pass recursive=True")
                with tree.directory(parts[:-1]) as parent:
                    clear(parent, parts[-1])

        await asyncio.to_thread(self.storage.new_version, volume_id, apply)
        return protocol.Empty()

    async def volume_copy(self, req: protocol.VolumeCopy, caller: Identity) -> protocol.Empty:
        volume_id = req.volume_id
        self._check(volume_id)
        sources, destination = [names(src) for src in req.src_paths], names(req.dst_path)

        def apply(version: Path) -> None:
            with Tree(version) as tree:
                into = _is_folder(tree, destination)
                for parts in sources:
                    if not parts:
                        raise exception.InvalidError("the volume's root cannot be copied")
                    target = [*destination, parts[-1]] if into else destination
                    _copy(tree, parts, target)

        await asyncio.to_thread(self.storage.new_version, volume_id, apply)
        return protocol.Empty()


def _is_folder(tree: Tree, parts: list[str]) -> bool:
    try:
        return stat.S_ISDIR(tree.lstat(parts).st_mode)
    except exception.NotFoundError:
        return False


def _copy(tree: Tree, source: list[str], target: list[str]) -> None:
    """Copy a file, link or folder of the tree to another place in it (files as hard links:
    every later change replaces a file, never writes into it)."""
    kind = tree.lstat(source).st_mode
    if not target:
        raise exception.InvalidError("nothing can be copied over the volume's root")
    if stat.S_ISDIR(kind):
        with tree.directory(source) as folder:
            merge(tree, target, folder, link=True)
        return
    with tree.directory(source[:-1]) as origin, tree.directory(target[:-1], create=True) as folder:
        if stat.S_ISLNK(kind):
            copy_link(folder, target[-1], origin, source[-1])
        else:
            link_file(folder, target[-1], origin, source[-1])
