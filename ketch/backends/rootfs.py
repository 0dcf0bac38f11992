"""The overlay mounts that make a container's root filesystem (used by containers and by the
image builder's build containers alike)."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def root_overlays(layers: list[str], scratch: Path, rooted: bool = False) -> list[list[Any]]:
    """The overlays that make a container's root: the image's layers over the host (or, for
    a ``rooted`` image, alone), and ``scratch/upper`` on top.

    The kernel refuses lower layers nested inside one another, and the layers live inside the
    host's root. So the layers are first stacked into a read-only overlay of their own (whose
    root belongs to another filesystem), which then sits on the host as one lower layer.
    """
    if rooted:
        return [[list(reversed(layers)), str(scratch / "upper"), str(scratch / "work"),
                 str(scratch / "root")]]
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
# each of these folders every other entry is hidden (an empty folder, or gone if a file); an
# entry may be a pattern (``python3*``). An image layer's own entries stay visible whatever
# this says.
SANDBOX_KEEP = {
    "/": {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "opt", "var", "proc",
          "dev", "sys"},
    "/var": {"lib", "cache"},
    "/var/lib": {"dpkg", "apt", "ucf"},
    "/var/cache": {"apt", "debconf", "ldconfig"},
    # What programs read to run, and nothing a service keeps there (its keys, its VPN and
    # Wi-Fi secrets, its database's settings): users and groups by name (no password hashes:
    # those are in shadow), name resolution, the dynamic linker, the certificates TLS trusts,
    # which program a name runs, the time zone, what system this is, locales and file types,
    # shells' and terminals' settings (execs with a PTY), and Python's and pip's own (pip
    # installs from the host's index; a pip.conf with a password in it is the host's to make
    # 0600, and the sandbox's code is not root).
    "/etc": {"passwd", "group", "nsswitch.conf", "hosts", "host.conf", "resolv.conf",
             "gai.conf", "services", "protocols", "networks", "ld.so.cache", "ld.so.conf",
             "ld.so.conf.d", "ssl", "ca-certificates", "ca-certificates.conf", "pki",
             "crypto-policies", "alternatives", "localtime", "timezone", "os-release",
             "lsb-release", "*_version", "*-release", "locale.alias", "locale.conf",
             "mime.types", "magic", "magic.mime", "shells", "profile", "profile.d",
             "bash.bashrc", "inputrc", "terminfo", "environment", "mtab", "python3*",
             "pip.conf", "xdg"},
    "/etc/ssl": {"certs", "openssl.cnf"},
    "/opt": set(),  # third-party software and its data: only what an image puts there
}
# Folders whose other entries are gone rather than emptied: no program expects one of them.
SANDBOX_GONE = {"/etc", "/etc/ssl", "/opt"}
SANDBOX_SECRETS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssh",
                   "/etc/ssl/private", "/etc/sudoers", "/etc/sudoers.d")


def kept(name: str, keep: set[str]) -> bool:
    """Whether ``name`` is one of ``keep``'s names or patterns."""
    return name in keep or any(fnmatch.fnmatchcase(name, pattern) for pattern in keep
                               if "*" in pattern)


def hide_host_data(upper: Path, layers: list[str], deleted: Sequence[str] = ()) -> list[str]:
    """Fill a sandbox's upper layer, before it is mounted, so that the overlay hides what the
    host keeps outside its system folders (homes, /tmp, /srv, services' data) and its secrets.

    A hidden folder becomes an empty opaque one, which hides present and future host files
    alike (or, in `SANDBOX_GONE`, is gone). Where an image layer has the same folder, the two
    merge in the overlay: then only the host's entries are hidden, one by one, and the
    image's stay. What the image ``deleted`` (its whiteouts, already in ``upper``) stays gone.

    Returns the host paths it hid (a snapshot of the sandbox's files leaves them out).
    """
    hidden: list[str] = []
    for folder, keep in SANDBOX_KEEP.items():
        try:
            entries = [] if hidden_by(folder, deleted) else os.listdir(folder)
        except OSError:
            continue
        for name in entries:
            path = os.path.join(folder, name)
            if not kept(name, keep) and not hidden_by(path, deleted):
                hidden.append(path)
                _hide(upper, path, layers, empty=folder not in SANDBOX_GONE)
    for path in SANDBOX_SECRETS:
        if os.path.lexists(path) and not hidden_by(path, [*hidden, *deleted]):
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


def _parents(upper: Path, path: str, layers: Sequence[str] = ()) -> None:
    """The folders above ``path`` in the upper layer, with the modes they have below (a
    folder of the upper layer lends the merged one its owner and mode)."""
    parent = os.path.dirname(path)
    if parent == "/" or (upper / parent.lstrip("/")).is_dir():
        return
    _parents(upper, parent, layers)
    (upper / parent.lstrip("/")).mkdir()
    os.chmod(upper / parent.lstrip("/"), _mode(parent, layers))


def _mode(path: str, layers: Sequence[str]) -> int:
    """The permissions of the folder ``path`` as the overlay's lower layers show it (the top
    layer's, else the host's), 0755 where it is new."""
    below = next((os.path.join(layer, path.lstrip("/")) for layer in reversed(layers)
                  if os.path.lexists(os.path.join(layer, path.lstrip("/")))), path)
    try:
        return os.stat(below).st_mode & 0o7777
    except OSError:
        return 0o755


def give(upper: Path, folders: Sequence[str], layers: Sequence[str], uid: int, gid: int
         ) -> None:
    """Make each of ``folders`` (absolute) belong to ``uid``:``gid`` in the overlay whose upper
    layer is ``upper``, before it is mounted: a folder of the upper layer lends the merged one
    its owner, so that user may add and remove entries in it. What lies in it is left as it
    is (a file of the image stays root's), and a path that is a file or a link below is not
    turned into a folder."""
    for folder in dict.fromkeys(os.path.normpath(f) for f in folders):
        target = upper / folder.lstrip("/")
        if folder != "/" and not target.is_dir():
            below = next((os.path.join(layer, folder.lstrip("/")) for layer in reversed(layers)
                          if os.path.lexists(os.path.join(layer, folder.lstrip("/")))), folder)
            if os.path.lexists(below) and (os.path.islink(below) or not os.path.isdir(below)):
                continue
            _parents(upper, folder, layers)
            target.mkdir()
            os.chmod(target, _mode(folder, layers))
        os.chown(target, uid, gid)


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


def hidden_by(path: str, folders: Sequence[str]) -> bool:
    """Whether ``path`` is one of ``folders`` or inside one."""
    return any(path == f or path.startswith(f + "/") for f in folders)


def hidden(path: str) -> bool:
    """Whether `hide_host_data` hides the host's ``path`` (an absolute, resolved path)."""
    if hidden_by(path, SANDBOX_SECRETS):
        return True
    folder = "/"
    for part in path.strip("/").split("/"):
        keep = SANDBOX_KEEP.get(folder)
        if keep is None:
            return False
        if not kept(part, keep):
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
