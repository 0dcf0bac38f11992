"""The overlay mounts that make a container's root filesystem (used by containers and by the
image builder's build containers alike)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def root_overlays(layers: list[str], scratch: Path) -> list[list[Any]]:
    """The overlays that make a container's root: the image's layers over the host, and
    ``scratch/upper`` on top.

    The kernel refuses lower layers nested inside one another, and the layers live inside the
    host's root. So the layers are first stacked into a read-only overlay of their own (whose
    root belongs to another filesystem), which then sits on the host as one lower layer.
    """
    lowers = ["/"]
    overlays: list[list[Any]] = []
    if layers:
        stack = list(reversed(layers))
        if len(stack) == 1:  # a read-only overlay needs two lower layers
            empty = Path(layers[0]).parent.parent / "empty"
            empty.mkdir(exist_ok=True)
            stack.append(str(empty))
        overlays.append([stack, None, None, str(scratch / "image")])
        lowers = [str(scratch / "image"), "/"]
    overlays.append([lowers, str(scratch / "upper"), str(scratch / "work"), str(scratch / "root")])
    return overlays


# What of the host a sandbox sees: the system's programs and libraries, none of its data. In
# each of these folders every other entry is hidden (an empty folder, or gone if a file).
SANDBOX_KEEP = {
    "/": {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "opt", "var", "proc",
          "dev", "sys"},
    "/var": {"lib", "cache"},
    "/var/lib": {"dpkg", "apt", "ucf"},
    "/var/cache": {"apt", "debconf", "ldconfig"},
}
SANDBOX_SECRETS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssh",
                   "/etc/ssl/private", "/etc/sudoers", "/etc/sudoers.d")


def hide_host_data(upper: Path, layers: list[str]) -> list[str]:
    """Fill a sandbox's upper layer, before it is mounted, so that the overlay hides what the
    host keeps outside its system folders (homes, /tmp, /srv, services' data) and its secrets.

    A hidden folder becomes an empty opaque one, which hides present and future host files
    alike. Where an image layer has the same folder, the two merge in the overlay: then only
    the host's entries are hidden, one by one, and the image's stay.

    Returns the host paths it hid (a snapshot of the sandbox's files leaves them out).
    """
    hidden = []
    for folder, keep in SANDBOX_KEEP.items():
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for name in entries:
            if name not in keep:
                hidden.append(os.path.join(folder, name))
                _hide(upper, hidden[-1], layers, empty=True)
    for path in SANDBOX_SECRETS:
        if os.path.lexists(path):
            hidden.append(path)
            _hide(upper, path, layers)
    return hidden


def _hide(upper: Path, path: str, layers: list[str], empty: bool = False) -> None:
    """Hide the host's ``path`` (and nothing of the image's) from the overlay's view: gone,
    or with ``empty`` an empty folder if it is one (/tmp or /home had better exist)."""
    relative = path.lstrip("/")
    top = next((os.path.join(layer, relative) for layer in reversed(layers)
                if os.path.lexists(os.path.join(layer, relative))), None)
    host_dir = os.path.isdir(path) and not os.path.islink(path)
    target = upper / relative
    if top is None:
        _parents(upper, path)
        if host_dir and empty:
            target.mkdir(exist_ok=True)
            os.chmod(target, os.stat(path).st_mode & 0o7777)
            os.setxattr(target, "trusted.overlay.opaque", b"y")
        else:
            _whiteout(target)
        return
    if not host_dir or not os.path.isdir(top) or os.path.islink(top) or _opaque(top):
        return  # the image's entry already shadows the host's
    _parents(upper, path)
    target.mkdir(exist_ok=True)
    os.chmod(target, os.stat(top).st_mode & 0o7777)
    for name in os.listdir(path):
        _hide(upper, os.path.join(path, name), layers)


def _opaque(folder: str) -> bool:
    try:
        return os.getxattr(folder, "trusted.overlay.opaque") == b"y"
    except OSError:
        return False


def _parents(upper: Path, path: str) -> None:
    """The folders above ``path`` in the upper layer, with the host's modes (a folder of the
    upper layer lends the merged one its owner and mode)."""
    parent = os.path.dirname(path)
    if parent == "/" or (upper / parent.lstrip("/")).is_dir():
        return
    _parents(upper, parent)
    (upper / parent.lstrip("/")).mkdir()
    os.chmod(upper / parent.lstrip("/"), os.stat(parent).st_mode & 0o7777)


def whiteout(upper: Path, paths: list[str]) -> None:
    """Delete ``paths`` from the view of an overlay whose upper layer is ``upper`` (before it
    is mounted): what an image made from a sandbox's snapshot deleted."""
    for path in paths:
        target = upper / path.lstrip("/")
        if not os.path.lexists(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            _whiteout(target)


def _whiteout(target: Path) -> None:
    """An overlay whiteout: the lower layers' entry of that name is gone."""
    os.mknod(target, 0o600 | stat.S_IFCHR, os.makedev(0, 0))


def hidden(path: str) -> bool:
    """Whether `hide_host_data` hides the host's ``path`` (an absolute, resolved path)."""
    if any(path == s or path.startswith(s + "/") for s in SANDBOX_SECRETS):
        return True
    folder = "/"
    for part in path.strip("/").split("/"):
        keep = SANDBOX_KEEP.get(folder)
        if keep is None:
            return False
        if part not in keep:
            return True
        folder = os.path.join(folder, part)
    return False


def visible_prefixes(pythons: list[str], layers: Sequence[str] = ()) -> list[list[Any]]:
    """Read-only binds that keep each interpreter runnable in a sandbox when it lives in a
    folder the sandbox does not see: its installation (a pyenv under /root, say) and the
    virtualenv it was named by (``/tmp/venv/bin/python``). An interpreter in an image layer
    (``/opt/ketch/venv/bin/python``) is followed through the layers to the host's."""
    binds: list[list[Any]] = []

    def bind(prefix: str) -> None:
        # Only a Python installation, never a whole top-level folder such as /root or /home.
        if (hidden(prefix) and prefix.count("/") >= 2 and [prefix, prefix, True] not in binds
                and any(os.path.exists(os.path.join(prefix, marker))
                        for marker in ("pyvenv.cfg", "lib"))):
            binds.append([prefix, prefix, True])

    for python in pythons:
        given = os.path.abspath(python)
        real = _resolve(given, layers)
        if real is None:
            continue  # an interpreter of the image's own
        bind(os.path.dirname(os.path.dirname(real)))
        venv = os.path.dirname(os.path.dirname(given))
        if not _in_layers(given, layers) and os.path.exists(os.path.join(venv, "pyvenv.cfg")):
            bind(os.path.realpath(venv))
    return binds


def _in_layers(path: str, layers: Sequence[str]) -> bool:
    return any(os.path.lexists(os.path.join(layer, path.lstrip("/"))) for layer in layers)


def _resolve(path: str, layers: Sequence[str]) -> str | None:
    """The host file that ``path`` leads to inside the root, following symbolic links
    through the image's layers (top first); None if it ends on a file of a layer."""
    for _ in range(40):
        inside = next((os.path.join(layer, path.lstrip("/")) for layer in reversed(layers)
                       if os.path.lexists(os.path.join(layer, path.lstrip("/")))), None)
        if inside is None:
            return os.path.realpath(path)
        if not os.path.islink(inside):
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(inside)))
    return None
