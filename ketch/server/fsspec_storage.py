"""Volumes kept in an fsspec file system (``s3://bucket/prefix``, ``gs://…``, ``file:///…``).

Under the URL, each volume has ``latest`` (the number of its latest version), one manifest per
version (``versions/<n>.json``: each path's blob, mode, or link target) and its files by
content (``blobs/<sha256>``), so a version costs a manifest plus the files that changed.
Writing ``latest`` is the commit: a version is whole before anyone can see it.

Containers mount versions from a local cache with the same shape as `LocalVolumeStorage`
(one directory per version, unchanged files hard links to one cached copy). The control plane
is the only writer, as with local volumes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import Any

from .. import exception
from .volume_storage import Apply, VolumeStorage

Manifest = dict[str, dict[str, Any]]


class FsspecVolumeStorage(VolumeStorage):
    """Example::

        storage = FsspecVolumeStorage("s3://bucket/ketch-volumes", Path("/var/cache/ketch"))
        storage.new_version("vo-1", lambda tree: (tree / "a.txt").write_text("hi"))
        number, tree = storage.latest("vo-1")   # 1, a local directory holding a.txt
    """

    KEEP = 3  # cached versions kept besides the latest, for containers that still mount them

    def __init__(self, url: str, cache: Path) -> None:
        try:
            import fsspec
        except ImportError:
            raise exception.InvalidError(
                f"volumes at {url} need fsspec: pip install 'ketch[fsspec]' (and the file "
                "system's package, such as s3fs for s3://)"
            ) from None
        try:
            self.fs, self.base = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise exception.InvalidError(f"volumes url {url!r} cannot be opened: {exc}") from exc
        self.url = url
        self.cache = cache
        cache.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}

    # -- where things are ----------------------------------------------------------------------

    def _remote(self, volume_id: str, *parts: str) -> str:
        if "/" in volume_id or not volume_id.startswith("vo-"):
            raise exception.InvalidError(f"{volume_id!r} is not a volume id")
        return "/".join([self.base.rstrip("/"), volume_id, *parts])

    def _local(self, volume_id: str) -> Path:
        return self.cache / volume_id

    def versions_dir(self, volume_id: str) -> Path:
        return self._local(volume_id) / "versions"

    # -- the interface -------------------------------------------------------------------------

    def create(self, volume_id: str) -> None:
        if not self.fs.exists(self._remote(volume_id, "latest")):
            self._publish(volume_id, 0, {})

    def drop(self, volume_id: str) -> None:
        remote = self._remote(volume_id)
        if self.fs.exists(remote):
            self.fs.rm(remote, recursive=True)
        shutil.rmtree(self._local(volume_id), ignore_errors=True)

    def latest(self, volume_id: str) -> tuple[int, Path]:
        try:
            number = int(self.fs.cat_file(self._remote(volume_id, "latest")))
        except FileNotFoundError:
            self.create(volume_id)
            number = 0
        return number, self._materialize(volume_id, number)

    def new_version(self, volume_id: str, apply: Apply) -> int:
        lock = self._locks.setdefault(volume_id, threading.Lock())
        with lock:
            number, current = self.latest(volume_id)
            target = self.versions_dir(volume_id) / str(number + 1)
            staging = target.with_name(f"{number + 1}.staging")
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(current, staging, symlinks=True, copy_function=os.link)
            try:
                apply(staging)
                manifest = self._upload(volume_id, staging)
                self._publish(volume_id, number + 1, manifest)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            shutil.rmtree(target, ignore_errors=True)
            os.rename(staging, target)
            self._forget_old(volume_id, number + 1)
            return number + 1

    # -- versions in the store -----------------------------------------------------------------

    def _publish(self, volume_id: str, number: int, manifest: Manifest) -> None:
        self.fs.makedirs(self._remote(volume_id, "versions"), exist_ok=True)
        self.fs.pipe_file(self._remote(volume_id, "versions", f"{number}.json"),
                          json.dumps(manifest).encode())
        self.fs.pipe_file(self._remote(volume_id, "latest"), str(number).encode())

    def _upload(self, volume_id: str, tree: Path) -> Manifest:
        """The manifest of ``tree``, with every file's blob in the store and in the cache."""
        known = self._cached_blobs(volume_id)  # unchanged files are links to cached blobs
        blobs = self._local(volume_id) / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        self.fs.makedirs(self._remote(volume_id, "blobs"), exist_ok=True)
        manifest: Manifest = {}
        for directory, subdirs, files in os.walk(tree):
            for name in sorted(subdirs + files):
                path = Path(directory) / name
                rel = str(path.relative_to(tree))
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    manifest[rel] = {"link": os.readlink(path)}
                elif stat.S_ISDIR(info.st_mode):
                    manifest[rel] = {"dir": stat.S_IMODE(info.st_mode)}
                elif stat.S_ISREG(info.st_mode):
                    mode = stat.S_IMODE(info.st_mode)
                    digest = known.get(info.st_ino) or _sha256(path)
                    cached = blobs / f"{digest}-{mode:o}"
                    if not cached.exists():
                        remote = self._remote(volume_id, "blobs", digest)
                        if not self.fs.exists(remote):
                            self.fs.put_file(str(path), remote)
                        os.link(path, cached)
                    manifest[rel] = {"blob": digest, "mode": mode}
        return manifest

    def _cached_blobs(self, volume_id: str) -> dict[int, str]:
        blobs = self._local(volume_id) / "blobs"
        if not blobs.exists():
            return {}
        return {entry.stat().st_ino: entry.name.partition("-")[0] for entry in blobs.iterdir()}

    def _materialize(self, volume_id: str, number: int) -> Path:
        """The cached directory of a version, fetched from the store unless it is there."""
        target = self.versions_dir(volume_id) / str(number)
        if target.exists():
            return target
        manifest: Manifest = json.loads(
            self.fs.cat_file(self._remote(volume_id, "versions", f"{number}.json")))
        blobs = self._local(volume_id) / "blobs"
        blobs.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f"{number}.fetching-{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        os.chmod(staging, 0o777)  # containers may run as any user
        for rel in sorted(manifest):
            item, path = manifest[rel], staging / rel
            if "dir" in item:
                path.mkdir()
            elif "link" in item:
                os.symlink(item["link"], path)
            else:
                cached = blobs / f"{item['blob']}-{item['mode']:o}"
                if not cached.exists():
                    partial = cached.with_name(f"{cached.name}.part-{threading.get_ident()}")
                    self.fs.get_file(self._remote(volume_id, "blobs", item["blob"]), str(partial))
                    os.chmod(partial, item["mode"])
                    os.replace(partial, cached)
                os.link(cached, path)
        for rel, item in manifest.items():  # after their files: a directory may be read-only
            if "dir" in item:
                os.chmod(staging / rel, item["dir"])
        try:
            os.rename(staging, target)
        except OSError:  # fetched meanwhile by another thread: theirs is the same
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _forget_old(self, volume_id: str, latest: int) -> None:
        for entry in self.versions_dir(volume_id).iterdir():
            if entry.name.isdigit() and int(entry.name) < latest - self.KEEP:
                shutil.rmtree(entry, ignore_errors=True)
        for blob in (self._local(volume_id) / "blobs").iterdir():
            if blob.stat().st_nlink == 1:  # no cached version holds it any more
                blob.unlink()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
