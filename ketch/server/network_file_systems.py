"""Network file systems (Modal's ``NetworkFileSystem``): a folder the containers that mount it
share read-write, each seeing the others' writes at once (a Volume's containers see a commit).

Its files live under ``<volumes path>/nfs/<id>``; the control plane reaches them one name at a
time by descriptor, never through a link a container made (`volume_tree`).

    nfs = NetworkFileSystems(root, objects)
    await nfs.nfs_write(NfsWrite(nfs_id="nf-1", path="data/a.txt", data=b"hello"), caller)
    nfs.binds({"/mnt/shared": "nf-1"})   # [[<its folder>, "/mnt/shared", False]]
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

from .. import exception
from ..protocol import client as protocol
from .auth import Identity
from .objects import NamedObjects
from .volume_tree import Tree, clear, names, write_file


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

    async def nfs_write(self, req: protocol.NfsWrite, caller: Identity) -> protocol.Written:
        *parents, name = _parts(req.path)
        with Tree(self.folder(req.nfs_id)) as tree, \
                tree.directory(parents, create=True) as folder:
            clear(folder, name)
            write_file(folder, name, req.data)
        return protocol.Written(bytes=len(req.data))

    async def nfs_read(self, req: protocol.NfsRead, caller: Identity) -> protocol.Data:
        with Tree(self.folder(req.nfs_id)) as tree:
            fd = tree.open_file(_parts(req.path))
        with os.fdopen(fd, "rb") as f:
            return protocol.Data(data=f.read())

    async def nfs_listdir(self, req: protocol.NfsListdir, caller: Identity) -> protocol.Entries:
        with Tree(self.folder(req.nfs_id)) as tree:
            entries = tree.entries(names(req.path), req.recursive)
        return protocol.Entries(entries=[protocol.FileEntry(**entry) for entry in entries])

    async def nfs_remove(self, req: protocol.NfsRemove, caller: Identity) -> protocol.Empty:
        *parents, name = _parts(req.path)
        with Tree(self.folder(req.nfs_id)) as tree:
            if stat.S_ISDIR(tree.lstat([*parents, name]).st_mode) and not req.recursive:
                raise exception.InvalidError(f"{req.path} is a folder: pass recursive=True")
            with tree.directory(parents) as folder:
                clear(folder, name)
        return protocol.Empty()


def _parts(path: str) -> list[str]:
    parts = names(path)
    if not parts:
        raise exception.InvalidError("the path names the file system's root, not a file in it")
    return parts
