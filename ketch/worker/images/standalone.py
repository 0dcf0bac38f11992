"""Lay a standalone CPython (python-build-standalone) into an image layer, as Modal's
``Image.from_registry(..., add_python="3.12")`` does for an image that has no Python.

uv downloads the build (it knows python-build-standalone's releases and checks their sha256)
into ``KETCH_HOME/images/pythons``, once per machine; every image that asks for the version
gets a copy of that directory at ``/usr/local`` (bin/python3, lib/python3.X, include, share).
A lock file makes two builds that want the same Python at once download it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ... import config, exception
from ...image import check_add_python
from .buildbox import uv_binary

Log = Callable[[str], None]
PREFIX = "/usr/local"  # where Modal puts the interpreter in the image
# An install uv made: cpython-3.12.7-linux-x86_64-gnu (variants such as +freethreaded and
# prereleases such as 3.14.0rc1 do not match: add_python means the plain build).
INSTALLED = re.compile(r"cpython-3\.(\d+)\.(\d+)-[a-z]+-[a-z0-9_]+-[a-z]+")
TAIL = 20
# Files of a build that name its own prefix: uv rewrote them to where it installed the build,
# so the copy is pointed at /usr/local (build tools read them to find headers and libpython).
PREFIX_FILES = ("lib/python3.*/_sysconfigdata_*.py", "lib/python3.*/_sysconfig_vars_*.json",
                "lib/python3.*/config-3.*/Makefile", "lib/pkgconfig/*.pc", "bin/python3.*-config")


def store() -> Path:
    """uv's install directory: the builds this machine has downloaded."""
    return config.home() / "images" / "pythons"


async def install_python(version: str, fs: Path, log: Log) -> str:
    """Put CPython ``version`` under ``fs/usr/local``, downloading it if this machine has not
    yet; returns the interpreter's path in the image ("/usr/local/bin/python3.12")."""
    check_add_python(version)
    root = store()
    root.mkdir(parents=True, exist_ok=True)
    async with _locked(root / "ketch.lock"):
        source = installed(version)
        if source is None:
            source = await _download(version, log)
        else:
            log(f"{source.name} is already on this machine ({source})")
    started = time.monotonic()
    python = await asyncio.to_thread(_lay, source, fs / PREFIX.lstrip("/"))
    log(f"Copied {source.name} to {PREFIX} in {time.monotonic() - started:.1f}s")
    return python


def installed(version: str) -> Path | None:
    """The newest build here that is ``version`` ("3.12": any 3.12.M; "3.12.7": only it)."""
    if not store().is_dir():
        return None
    wanted = tuple(int(part) for part in version.split("."))
    found: dict[tuple[int, int], Path] = {}
    for entry in store().iterdir():
        match = INSTALLED.fullmatch(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue  # uv's 3.12 → 3.12.7 links, its lock and temporary files
        minor, patch = int(match[1]), int(match[2])
        if (3, minor, patch)[: len(wanted)] == wanted and (entry / "bin" / f"python3.{minor}").exists():
            found[(minor, patch)] = entry
    return found[max(found)] if found else None


async def _download(version: str, log: Log) -> Path:
    settings = config.images_settings()
    if settings.get("offline"):
        raise exception.InvalidError(
            f"Python {version} is not on this machine and [images] offline = true in "
            f"{config.home() / 'config.toml'} forbids downloading it: build on a machine that has "
            f"it (or copy its {store()} here), or set offline = false, with python_mirror (or "
            f"python_downloads_json) in [images] naming a mirror this machine can reach"
        )
    # --no-config: a uv.toml or pyproject.toml around the worker must not change where builds
    # come from; --no-bin: nothing is linked into ~/.local/bin of the worker's user.
    command = [uv_binary(), "python", "install", version, "--install-dir", str(store()),
               "--no-bin", "--no-config", "--no-progress"]
    if settings.get("python_mirror"):
        command += ["--mirror", str(settings["python_mirror"])]
    if settings.get("python_downloads_json"):
        command += ["--python-downloads-json-url", _path_or_url(settings["python_downloads_json"])]
    # ketch's own `offline` decides, not a UV_PYTHON_DOWNLOADS=never meant for project builds.
    env = {k: v for k, v in os.environ.items() if k not in ("UV_PYTHON_DOWNLOADS", "UV_OFFLINE")}
    log(f"Downloading Python {version} (uv python install)")
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    lines = output.decode(errors="replace").splitlines()
    for line in lines:
        log(line)
    source = installed(version)
    if process.returncode != 0 or source is None:
        tail = "\n".join(lines[-TAIL:]) or f"(no output, exit status {process.returncode})"
        raise exception.InvalidError(
            f"uv could not install Python {version}:\n{tail}\nCheck the version (`uv python list "
            f"--all-versions` shows the builds uv knows); on a machine without internet, set "
            f"python_mirror or python_downloads_json in [images] of "
            f"{config.home() / 'config.toml'}"
        )
    log(f"Downloaded {source.name} in {time.monotonic() - started:.1f}s")
    return source


def _path_or_url(value: object) -> str:
    text = str(value)
    return text if "://" in text else str(Path(text).expanduser().resolve())


def _lay(source: Path, target: Path) -> str:
    """Copy the build to ``target`` (symlinks and modes kept); returns the in-image python."""
    for part in ("bin", "lib", "include", "share"):
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, symlinks=True, dirs_exist_ok=True)
    minor, patch = _minor_patch(source)
    name = f"python3.{minor}"
    if not (target / "bin" / name).exists():
        raise exception.InvalidError(
            f"{source} has no bin/{name}: it is not a whole Python build; remove it "
            f"(ketch downloads it again on the next build)"
        )
    for link in ("python3", "python"):
        if not os.path.lexists(target / "bin" / link):
            os.symlink(name, target / "bin" / link)
    # uv may have written the build's own path, its real path or its 3.X link's path.
    minor_link = source.with_name(source.name.replace(f"3.{minor}.{patch}-", f"3.{minor}-", 1))
    _repoint(target, [str(source), os.path.realpath(source), str(minor_link)])
    return f"{PREFIX}/bin/{name}"


def _minor_patch(source: Path) -> tuple[int, int]:
    match = INSTALLED.fullmatch(source.name)
    assert match is not None, source  # `installed` only returns names that match
    return int(match[1]), int(match[2])


def _repoint(target: Path, old_prefixes: list[str]) -> None:
    for pattern in PREFIX_FILES:
        for path in target.glob(pattern):
            if path.is_symlink() or not path.is_file():
                continue
            text = path.read_bytes()
            new = text
            for old in sorted(set(old_prefixes), key=len, reverse=True):
                new = new.replace(old.encode(), PREFIX.encode())
            if new != text:
                path.write_bytes(new)


@contextlib.asynccontextmanager
async def _locked(path: Path) -> AsyncIterator[None]:
    """Hold ``path``'s lock across processes (a build that waits does not block the loop)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.1)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
