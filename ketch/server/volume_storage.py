"""Where volumes keep their files: the storage interface, and its local-directory form.

A volume is a sequence of versions, each a whole tree. A container mounts the latest version
under its own writable layer; its ``commit()`` makes a new version of the latest plus its
changes (last write wins), and ``reload()`` remounts the latest. `LocalVolumeStorage` keeps
each version as a directory whose unchanged files are hard links to the previous version's, so
a version costs only what changed. `ketch.server.fsspec_storage.FsspecVolumeStorage` keeps the
versions in an object store (through fsspec) behind the same methods.
"""

from __future__ import annotations

import abc
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from .. import exception

Apply = Callable[[Path], None]


class VolumeStorage(abc.ABC):
    @abc.abstractmethod
    def create(self, volume_id: str) -> None: ...

    @abc.abstractmethod
    def drop(self, volume_id: str) -> None: ...

    @abc.abstractmethod
    def latest(self, volume_id: str) -> tuple[int, Path]:
        """The latest version and a local directory holding it (to mount or read)."""

    @abc.abstractmethod
    def new_version(self, volume_id: str, apply: Apply) -> int:
        """Make a version of the latest one changed by ``apply(tree)``; return its number."""

    @abc.abstractmethod
    def versions_dir(self, volume_id: str) -> Path:
        """The local directory holding the volume's versions by number (containers see it, to
        remount the latest on reload)."""


class LocalVolumeStorage(VolumeStorage):
    """Volumes as directories under ``root`` (one per volume, one subdirectory per version)."""

    KEEP = 3  # versions kept besides the latest, for containers that still mount them

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}

    def _dir(self, volume_id: str) -> Path:
        if "/" in volume_id or not volume_id.startswith("vo-"):
            raise exception.InvalidError(f"{volume_id!r} is not a volume id")
        return self.root / volume_id

    def create(self, volume_id: str) -> None:
        first = self._dir(volume_id) / "versions" / "0"
        first.mkdir(parents=True, exist_ok=True)
        os.chmod(first, 0o777)  # containers may run as any user
        if not (self._dir(volume_id) / "latest").exists():
            self._set_latest(volume_id, 0)

    def drop(self, volume_id: str) -> None:
        shutil.rmtree(self._dir(volume_id), ignore_errors=True)

    def latest(self, volume_id: str) -> tuple[int, Path]:
        directory = self._dir(volume_id)
        if not (directory / "latest").exists():
            self.create(volume_id)
        number = int((directory / "latest").read_text())
        return number, directory / "versions" / str(number)

    def versions_dir(self, volume_id: str) -> Path:
        return self._dir(volume_id) / "versions"

    def new_version(self, volume_id: str, apply: Apply) -> int:
        lock = self._locks.setdefault(volume_id, threading.Lock())
        with lock:
            number, current = self.latest(volume_id)
            target = self._dir(volume_id) / "versions" / str(number + 1)
            staging = target.with_name(f"{number + 1}.staging")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(current, staging, symlinks=True, copy_function=os.link)
            try:
                apply(staging)
                os.sync()  # the version's files reach the disk before it becomes the latest
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            os.rename(staging, target)
            self._set_latest(volume_id, number + 1)
            self._forget_old(volume_id, number + 1)
            return number + 1

    def _set_latest(self, volume_id: str, number: int) -> None:
        tmp = self._dir(volume_id) / "latest.tmp"
        with open(tmp, "w") as f:
            f.write(str(number))
            f.flush()
            os.fsync(f.fileno())  # the pointer must not outrun the files on a crash
        os.replace(tmp, self._dir(volume_id) / "latest")

    def _forget_old(self, volume_id: str, latest: int) -> None:
        for entry in (self._dir(volume_id) / "versions").iterdir():
            if entry.name.isdigit() and int(entry.name) < latest - self.KEEP:
                shutil.rmtree(entry, ignore_errors=True)
