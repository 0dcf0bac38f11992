"""`NetworkFileSystem`: a folder shared read-write by the containers that mount it, each seeing
the others' writes at once (Modal's; a `Volume`'s containers see each other's commits).

Example::

    shared = ketch.NetworkFileSystem.from_name("scratch", create_if_missing=True)

    @app.function(network_file_systems={"/scratch": shared})
    def work(i):
        with open(f"/scratch/{i}.txt", "w") as f:
            f.write("done")

    shared.listdir("/")    # the files the containers wrote, seen from anywhere
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import IO

from . import exception
from .object import NamedObject
from .protocol import client as protocol
from .synchronizer import aio, aio_iter
from .volume import FileEntry, _entry


class NetworkFileSystem(NamedObject):
    KIND = "nfs"

    @aio
    async def write_file(self, remote_path: str, fp: IO[bytes],
                         progress_cb: object = None) -> int:
        """Write what ``fp`` holds to ``remote_path``; the number of bytes."""
        client, nfs_id = await self._resolve()
        data = fp.read()
        answer = await client.request(protocol.NfsWrite(nfs_id=nfs_id, path=remote_path,
                                                        data=data))
        return int(answer.bytes)

    @aio_iter
    async def read_file(self, path: str) -> AsyncIterator[list[bytes]]:
        """The file's bytes."""
        client, nfs_id = await self._resolve()
        yield [(await client.request(protocol.NfsRead(nfs_id=nfs_id, path=path))).data]

    @aio
    async def listdir(self, path: str = "/", *, recursive: bool = False) -> list[FileEntry]:
        client, nfs_id = await self._resolve()
        answer = await client.request(protocol.NfsListdir(nfs_id=nfs_id, path=path,
                                                          recursive=recursive))
        return [_entry(raw) for raw in answer.entries]

    @aio_iter
    async def iterdir(self, path: str = "/") -> AsyncIterator[list[FileEntry]]:
        yield await self.listdir.aio(path, recursive=True)

    @aio
    async def remove_file(self, path: str, recursive: bool = False) -> None:
        client, nfs_id = await self._resolve()
        await client.request(protocol.NfsRemove(nfs_id=nfs_id, path=path, recursive=recursive))

    @aio
    async def add_local_file(self, local_path: str, remote_path: str | None = None) -> int:
        """Copy a local file in (to its own name at the root unless ``remote_path``)."""
        target = remote_path or "/" + os.path.basename(local_path)
        with open(local_path, "rb") as f:
            return await self.write_file.aio(target, f)

    @aio
    async def add_local_dir(self, local_path: str, remote_path: str | None = None) -> None:
        """Copy a local folder in, files and subfolders (to its own name unless
        ``remote_path``)."""
        if not os.path.isdir(local_path):
            raise exception.InvalidError(f"add_local_dir: {local_path} is not a directory")
        base = remote_path or "/" + os.path.basename(os.path.abspath(local_path))
        for folder, _, files in os.walk(local_path):
            for name in files:
                relative = os.path.relpath(os.path.join(folder, name), local_path)
                await self.add_local_file.aio(os.path.join(folder, name),
                                              f"{base.rstrip('/')}/{relative}")


__all__ = ["NetworkFileSystem"]
