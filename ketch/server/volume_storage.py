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
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# -- changes applied to a version's tree -----------------------------------------------------------


def inside(tree: Path, path: str) -> Path:
    """``path`` (a path in the volume) under ``tree``, refusing to leave it."""
    resolved = (tree / path.lstrip("/")).resolve()
    if resolved != tree.resolve() and tree.resolve() not in resolved.parents:
        raise exception.InvalidError(f"{path!r} is outside the volume")
    return resolved


def replace_file(source: Path, target: Path, *, link: bool = False) -> None:
    """Put ``source`` at ``target``: a copy, or with ``link`` a hard link (for sources nobody
    writes to again). Never write through a hard link into the file older versions share."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
    elif link:
        os.link(source, target)
    else:
        shutil.copy2(source, target)


def remove(target: Path, recursive: bool) -> None:
    if target.is_dir() and not target.is_symlink():
        if not recursive and any(target.iterdir()):
            raise exception.InvalidError(f"{target.name} is a directory that is not empty: pass recursive=True")
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    else:
        raise exception.NotFoundError(f"no such file in the volume: {target.name}")


def apply_overlay_upper(upper: Path, *, final: bool = False) -> Apply:
    """The changes an overlay's upper directory records: new and changed files, deletions
    (whiteouts: 0/0 character devices) and replaced directories (opaque directories).

    ``final``: nothing writes to ``upper`` any more, so its files are linked, not copied."""
    def apply(tree: Path) -> None:
        for directory, subdirs, files in os.walk(upper):
            rel_dir = Path(directory).relative_to(upper)
            if rel_dir != Path(".") and _opaque(Path(directory)):
                target = tree / rel_dir
                if target.exists():
                    shutil.rmtree(target)
            (tree / rel_dir).mkdir(parents=True, exist_ok=True)
            for name in files + [d for d in subdirs if (Path(directory) / d).is_symlink()]:
                source = Path(directory) / name
                mode = os.lstat(source).st_mode
                if stat.S_ISCHR(mode) and os.lstat(source).st_rdev == 0:
                    target = tree / rel_dir / name
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    elif target.exists() or target.is_symlink():
                        target.unlink()
                else:
                    replace_file(source, tree / rel_dir / name, link=final)
    return apply


def _opaque(directory: Path) -> bool:
    try:
        return os.getxattr(directory, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def entry(tree: Path, path: Path) -> dict[str, Any]:
    info = os.lstat(path)
    kind = "symlink" if stat.S_ISLNK(info.st_mode) else "directory" if stat.S_ISDIR(info.st_mode) else "file"
    return {"path": str(path.relative_to(tree)), "type": kind, "size": info.st_size,
            "mtime": info.st_mtime}
