"""Network file systems (Modal's ``NetworkFileSystem``): a folder the containers that mount it
share read-write, each seeing the others' writes at once (a Volume's containers see a commit).

Its files live under ``<volumes path>/nfs/<id>``; the control plane reaches them one name at a
time by descriptor, never through a link a container made (`volume_tree`).

    nfs = NetworkFileSystems(root, objects)
    await nfs.nfs_write("nf-1", "data/a.txt", b"hello")
    nfs.binds({"/mnt/shared": "nf-1"})   # [[<its folder>, "/mnt/shared", False]]
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

from .. import exception
from .objects import NamedObjects
from .volume_tree import Tree, clear, names, write_file

REQUESTS = ("nfs_write", "nfs_read", "nfs_listdir", "nfs_remove")


class NetworkFileSystems:
    def __init__(self, root: Path, objects: NamedObjects) -> None:
        self.root = root
        self.objects = objects
        objects.droppers["nfs"] = self.drop

    def folder(self, nfs_id: str) -> Path:
        self.objects.kind_of(nfs_id, "nfs")
        path = self.root / nfs_id
        path.mkdir(parents=True, exist_ok=True, mode=0o755)
        return path

    def binds(self, mounts: dict[str, str]) -> list[list[Any]]:
        """Read-write binds of each mounted file system at its path."""
        return [[str(self.folder(nfs_id)), path, False] for path, nfs_id in mounts.items()]

    def drop(self, nfs_id: str) -> None:
        shutil.rmtree(self.root / nfs_id, ignore_errors=True)

    async def nfs_write(self, nfs_id: str, path: str, data: bytes) -> dict[str, Any]:
        *parents, name = _parts(path)
        with Tree(self.folder(nfs_id)) as tree, tree.directory(parents, create=True) as folder:
            clear(folder, name)
            write_file(folder, name, data)
        return {"bytes": len(data)}

    async def nfs_read(self, nfs_id: str, path: str) -> dict[str, Any]:
        with Tree(self.folder(nfs_id)) as tree:
            fd = tree.open_file(_parts(path))
        with os.fdopen(fd, "rb") as f:
            return {"data": f.read()}

    async def nfs_listdir(self, nfs_id: str, path: str, recursive: bool) -> dict[str, Any]:
        with Tree(self.folder(nfs_id)) as tree:
            return {"entries": tree.entries(names(path), recursive)}

    async def nfs_remove(self, nfs_id: str, path: str, recursive: bool) -> dict[str, Any]:
        *parents, name = _parts(path)
        with Tree(self.folder(nfs_id)) as tree:
            if stat.S_ISDIR(tree.lstat([*parents, name]).st_mode) and not recursive:
                raise exception.InvalidError(f"{path} is a folder: pass recursive=True")
            with tree.directory(parents) as folder:
                clear(folder, name)
        return {}


def _parts(path: str) -> list[str]:
    parts = names(path)
    if not parts:
        raise exception.InvalidError("the path names the file system's root, not a file in it")
    return parts
