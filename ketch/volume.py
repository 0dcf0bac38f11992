"""`Volume`: files that persist and are shared by containers, mounted at a path.

Example::

    vol = ketch.Volume.from_name("weights", create_if_missing=True)

    @app.function(volumes={"/weights": vol})
    def train():
        open("/weights/model.bin", "wb").write(b"...")
        vol.commit()      # other containers see it after their vol.reload()

Inside a container a volume is the version that was latest when it started, under a layer of
its own: ``commit()`` makes its changes the latest version (last write wins) and ``reload()``
switches to the latest version (it fails while files under the mount are open). Containers
commit what they changed when they exit. Outside containers, ``listdir``, ``read_file``,
``batch_upload`` and friends act on the latest version.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import IO, Any

from . import config, exception, synchronizer
from .client import send_blocking
from .object import NamedObject
from .protocol import client as protocol
from .synchronizer import aio, aio_iter
from .types import FileEntry, FileEntryType

CHUNK = 4 * 2**20


def _entry(raw: protocol.FileEntry) -> FileEntry:
    kind = {"file": FileEntryType.FILE, "directory": FileEntryType.DIRECTORY,
            "symlink": FileEntryType.SYMLINK}[raw.type]
    return FileEntry(raw.path, kind, int(raw.mtime), raw.size)


class Volume(NamedObject):
    KIND = "volume"

    @classmethod
    def from_name(cls, name: str, *, environment_name: str | None = None,
                  create_if_missing: bool = False, version: int | None = None,
                  client: Any = None) -> Volume:
        """A handle on the volume called ``name``. ``version`` is Modal's volume format (1 or
        2); ketch stores every volume one way, which behaves as both, so either is accepted.

        Example::

            vol = ketch.Volume.from_name("weights", create_if_missing=True, version=2)
        """
        if version not in (None, 1, 2):
            raise exception.InvalidError(
                f"Volume.from_name(version={version!r}): the volume format is 1 or 2 (or left "
                "out); ketch stores both the same way")
        return super().from_name(name, environment_name=environment_name,
                                 create_if_missing=create_if_missing, client=client)

    # -- inside containers ---------------------------------------------------------------------

    def _mount(self, verb: str) -> tuple[str, str]:
        mounts = json.loads(os.environ.get("KETCH_VOLUMES", "{}"))
        volume_id = self.object_id
        if volume_id not in mounts:
            raise exception.InvalidError(
                f"{verb}() works inside a container that mounts this volume (volumes={{...}} on "
                "its function); elsewhere, use listdir/read_file/batch_upload"
            )
        return volume_id, mounts[volume_id]

    def commit(self) -> None:
        """Make this container's changes under the mount the volume's latest version."""
        volume_id, _ = self._mount("commit")
        container_id = os.environ["KETCH_CONTAINER_ID"]
        send_blocking(protocol.VolumeCommit(volume_id=volume_id, container_id=container_id))

    def reload(self) -> None:
        """See the volume's latest version; this container's changes are committed first,
        as Modal says a reload may do."""
        from .container.mounts import remount_overlay

        volume_id, mount = self._mount("reload")
        container_id = os.environ["KETCH_CONTAINER_ID"]
        answer = send_blocking(protocol.VolumeReload(volume_id=volume_id,
                                                     container_id=container_id))
        remount_overlay(mount, answer.lower, answer.upper, answer.work)

    # -- anywhere --------------------------------------------------------------------------------

    @aio
    async def listdir(self, path: str = "/", *, recursive: bool = False) -> list[FileEntry]:
        client, volume_id = await self._resolve()
        answer = await client.request(protocol.VolumeListdir(volume_id=volume_id, path=path,
                                                             recursive=recursive))
        return [_entry(raw) for raw in answer.entries]

    @aio_iter
    async def iterdir(self, path: str = "/", *, recursive: bool = True
                      ) -> AsyncIterator[list[FileEntry]]:
        yield await self.listdir.aio(path, recursive=recursive)

    @aio_iter
    async def read_file(self, path: str) -> AsyncIterator[list[bytes]]:
        """The file's bytes, in chunks."""
        client, volume_id = await self._resolve()
        offset = 0
        while True:
            answer = await client.request(protocol.VolumeRead(volume_id=volume_id, path=path,
                                                              offset=offset, length=CHUNK))
            if answer.data:
                yield [answer.data]
            offset += len(answer.data)
            if offset >= answer.size or not answer.data:
                return

    def read_file_into_fileobj(self, path: str, fileobj: IO[bytes]) -> int:
        written = 0
        for chunk in self.read_file(path):
            fileobj.write(chunk)
            written += len(chunk)
        return written

    @aio
    async def remove_file(self, path: str, recursive: bool = False) -> None:
        client, volume_id = await self._resolve()
        await client.request(protocol.VolumeRemove(volume_id=volume_id, path=path,
                                                   recursive=recursive))

    @aio
    async def copy_files(self, src_paths: list[str], dst_path: str) -> None:
        client, volume_id = await self._resolve()
        await client.request(protocol.VolumeCopy(volume_id=volume_id, src_paths=list(src_paths),
                                                 dst_path=dst_path))

    def batch_upload(self, force: bool = False) -> VolumeUpload:
        """Upload files, all committed as one new version when the block ends.

        Example::

            with vol.batch_upload() as batch:
                batch.put_file("model.bin", "/models/model.bin")
                batch.put_directory("data/", "/data")
        """
        return VolumeUpload(self, force)

    @staticmethod
    def rename(old_name: str, new_name: str, *, environment_name: str | None = None,
               **_ignored: Any) -> None:
        send_blocking(protocol.ObjectRename(kind="volume", name=old_name, new_name=new_name,
                                            environment=environment_name or config.environment()))


class VolumeUpload:
    def __init__(self, volume: Volume, force: bool) -> None:
        self._volume = volume
        self._force = force
        self._files: list[tuple[str, str]] = []

    def put_file(self, local_file: str | IO[bytes], remote_path: str, mode: int | None = None
                 ) -> None:
        self._files.append((local_file, remote_path))  # type: ignore[arg-type]

    def put_directory(self, local_path: str, remote_path: str, recursive: bool = True) -> None:
        for directory, subdirs, files in os.walk(local_path):
            rel = os.path.relpath(directory, local_path)
            for name in files:
                target = os.path.normpath(os.path.join(remote_path, rel, name))
                self._files.append((os.path.join(directory, name), target))
            if not recursive:
                subdirs.clear()

    def __enter__(self) -> VolumeUpload:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            synchronizer.run(self._upload())

    async def _upload(self) -> None:
        client, volume_id = await self._volume._resolve()
        upload_id = None
        for local, remote in self._files:
            stream = open(local, "rb") if isinstance(local, str) else local
            try:
                offset = 0
                while True:
                    data = stream.read(CHUNK)
                    if not data and offset:
                        break
                    answer = await client.request(protocol.VolumeUpload(
                        volume_id=volume_id, path=remote, offset=offset, data=data,
                        upload_id=upload_id))
                    upload_id = answer.upload_id
                    offset += len(data)
                    if not data:
                        break
            finally:
                if isinstance(local, str):
                    stream.close()
        if upload_id is not None:
            await client.request(protocol.VolumeUploadCommit(volume_id=volume_id,
                                                             upload_id=upload_id,
                                                             force=self._force))


__all__ = ["FileEntry", "FileEntryType", "Volume", "VolumeUpload"]
