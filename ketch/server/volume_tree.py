"""Paths in a volume's tree that cannot leave it, and the changes made to a version's tree.

A volume holds whatever its containers wrote, symlinks included, and the control plane writes
its versions as root. So it never follows a link there: a path is walked one name at a time from
a directory held open, each step refusing links (``O_NOFOLLOW``), and every change is made
relative to the directory reached. A symlink in a volume stays a symlink for the containers
that mount it; to the control plane it is a leaf, never a way through.

The upper directory of a container's volume layer is written by the container's code while the
control plane reads it, so it is walked the same way (`os.fwalk`, which checks each directory it
enters is the one it listed), and only its regular files, folders, links and whiteouts count.

    with Tree(version_dir) as tree:
        with tree.directory(names("a/b"), create=True) as folder:
            write_file(folder, "c.txt", b"hi")
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import exception

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Set-id bits never come through: a version's files are root's, and may be run by anyone.
MODE_BITS = 0o1777


def names(path: str) -> list[str]:
    """The names along ``path``, a path in the volume ("/" or "" its root)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts or any("\0" in part for part in parts):
        raise exception.InvalidError(f"{path!r} is outside the volume: its paths use no '..'")
    return parts


class Tree:
    """A directory held open; paths below it are reached without following links."""

    def __init__(self, root: Path) -> None:
        try:
            self.fd = os.open(root, DIRECTORY)  # the root itself may not be a link either
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            raise exception.InvalidError(f"{root} is a link or a file, not a folder") from None

    def __enter__(self) -> Tree:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    @contextmanager
    def directory(self, parts: list[str], *, create: bool = False) -> Iterator[int]:
        """The folder at ``parts``, open. With ``create``, missing folders are made and a file
        or link in the way is replaced by a folder (as a later overlay layer's folder hides it)."""
        fd = os.dup(self.fd)
        try:
            for name in parts:
                inner = _step(fd, name, create, "/".join(parts))
                os.close(fd)
                fd = inner
            yield fd
        finally:
            os.close(fd)

    def lstat(self, parts: list[str]) -> os.stat_result:
        if not parts:
            return os.fstat(self.fd)
        with self.directory(parts[:-1]) as folder:
            return _lstat(folder, parts[-1], "/".join(parts))

    def open_file(self, parts: list[str]) -> int:
        """A regular file's descriptor, for reading."""
        if not parts:
            raise exception.NotFoundError("the volume's root is a folder, not a file")
        with self.directory(parts[:-1]) as folder:
            try:
                fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                             dir_fd=folder)
            except FileNotFoundError:
                raise exception.NotFoundError(f"no such file in the volume: {'/'.join(parts)}") from None
            except OSError as exc:
                raise _not_a_file("/".join(parts)) from exc
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise _not_a_file("/".join(parts))
        return fd

    def entries(self, parts: list[str], recursive: bool) -> list[dict[str, Any]]:
        """What is at ``parts``: the entry of a file or link, or what a folder holds."""
        info = self.lstat(parts)
        if not stat.S_ISDIR(info.st_mode):
            return [entry("/".join(parts), info)]
        found = []
        with self.directory(parts) as top:
            for folder, subdirs, files, fd in os.fwalk(".", dir_fd=top):
                prefix = [*parts, *names(folder)]
                for name in sorted(subdirs + files):
                    try:
                        found.append(entry("/".join([*prefix, name]), os.lstat(name, dir_fd=fd)))
                    except FileNotFoundError:
                        continue
                if not recursive:
                    break
        return found


def _step(fd: int, name: str, create: bool, path: str) -> int:
    try:
        return os.open(name, DIRECTORY, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise exception.NotFoundError(f"no such path in the volume: {path}") from None
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        if not create:
            raise exception.InvalidError(
                f"{name!r} on the way to {path!r} is a link or a file, not a folder: volume "
                "paths do not follow links") from None
        clear(fd, name)
    os.mkdir(name, 0o777, dir_fd=fd)  # containers may run as any user
    return os.open(name, DIRECTORY, dir_fd=fd)


def _lstat(folder: int, name: str, path: str) -> os.stat_result:
    try:
        return os.lstat(name, dir_fd=folder)
    except FileNotFoundError:
        raise exception.NotFoundError(f"no such path in the volume: {path}") from None


def _not_a_file(path: str) -> exception.Error:
    return exception.InvalidError(f"{path} in the volume is not a file (a folder or a link)")


def entry(path: str, info: os.stat_result) -> dict[str, Any]:
    mode = info.st_mode
    kind = "symlink" if stat.S_ISLNK(mode) else "directory" if stat.S_ISDIR(mode) else "file"
    return {"path": path, "type": kind, "size": info.st_size, "mtime": info.st_mtime}


# -- changes to one name in an open folder --------------------------------------------------------


def clear(folder: int, name: str) -> None:
    """Remove whatever is at ``name``: a file, a link, or a whole folder."""
    try:
        info = os.lstat(name, dir_fd=folder)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=folder)  # descends by descriptor, never through a link
    else:
        os.unlink(name, dir_fd=folder)


def copy_file(folder: int, name: str, source: int) -> None:
    """A new file at ``name`` with the bytes, mode and owner of the open file ``source``
    (a new inode: never a write through a hard link into a file older versions share)."""
    info = os.fstat(source)
    clear(folder, name)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=folder)
    try:
        os.lseek(source, 0, os.SEEK_SET)
        while os.sendfile(fd, source, None, 1 << 24):
            pass
        os.fchown(fd, info.st_uid, info.st_gid)
        os.fchmod(fd, info.st_mode & MODE_BITS)
        os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns))
    finally:
        os.close(fd)


def write_file(folder: int, name: str, data: bytes, offset: int = 0) -> None:
    """Write ``data`` at ``offset`` of the file ``name`` (made if missing, never through a link)."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                 dir_fd=folder)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def link_file(folder: int, name: str, source_folder: int, source_name: str) -> None:
    """Put a hard link of ``source_name`` at ``name`` (for sources nobody writes to again)."""
    clear(folder, name)
    os.link(source_name, name, src_dir_fd=source_folder, dst_dir_fd=folder,
            follow_symlinks=False)
    info = os.lstat(name, dir_fd=folder)
    if info.st_mode & (stat.S_ISUID | stat.S_ISGID):
        os.chmod(name, info.st_mode & MODE_BITS, dir_fd=folder, follow_symlinks=False)


def copy_link(folder: int, name: str, source_folder: int, source_name: str) -> None:
    clear(folder, name)
    os.symlink(os.readlink(source_name, dir_fd=source_folder), name, dir_fd=folder)


# -- whole trees into a version -------------------------------------------------------------------


def merge(tree: Tree, parts: list[str], source: int, *, link: bool,
          conflict: Callable[[str], None] | None = None) -> None:
    """Put what the open folder ``source`` holds at ``parts`` of ``tree``, entry by entry, the
    way an overlay's upper directory records changes: whiteouts (0/0 character devices) delete,
    opaque folders replace, links and regular files are copied (or hard-linked with ``link``);
    anything else (pipes, sockets, devices) is left out. ``conflict(path)`` is called before an
    existing file is replaced."""
    for folder, subdirs, files, fd in os.fwalk(".", dir_fd=source):
        rel = [*parts, *names(folder)]
        if folder != "." and _opaque(fd):
            with tree.directory(rel[:-1], create=True) as parent:
                clear(parent, rel[-1])
        with tree.directory(rel, create=True) as target:
            for name in files + subdirs:
                _merge_entry(target, name, fd, link, conflict, "/".join([*rel, name]))


def _merge_entry(target: int, name: str, fd: int, link: bool,
                 conflict: Callable[[str], None] | None, path: str) -> None:
    try:
        info = os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        return  # fwalk enters it next
    if stat.S_ISCHR(mode) and info.st_rdev == 0:
        clear(target, name)
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        return
    if conflict is not None:
        try:
            os.lstat(name, dir_fd=target)
            conflict(path)
        except FileNotFoundError:
            pass
    if stat.S_ISLNK(mode):
        copy_link(target, name, fd, name)
    elif link:
        link_file(target, name, fd, name)
    else:
        try:
            source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                             dir_fd=fd)
        except OSError:
            return  # swapped for something else meanwhile: the next commit takes it
        try:
            if stat.S_ISREG(os.fstat(source).st_mode):
                copy_file(target, name, source)
        finally:
            os.close(source)


def _opaque(fd: int) -> bool:
    try:
        return os.getxattr(fd, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def has_changes(upper: Path) -> bool:
    """Whether an upper directory (a folder, not a link put in its place) records anything."""
    try:
        fd = os.open(upper, DIRECTORY)
    except OSError:
        return False
    try:
        return bool(os.listdir(fd))
    finally:
        os.close(fd)


def apply_overlay_upper(upper: Path, *, final: bool = False) -> Callable[[Path], None]:
    """The changes an overlay's upper directory records, applied to a version's tree.

    ``final``: nothing writes to ``upper`` any more, so its files are linked, not copied."""
    def apply(tree_path: Path) -> None:
        with Tree(tree_path) as tree, Tree(upper) as layer:
            merge(tree, [], layer.fd, link=final)
    return apply
