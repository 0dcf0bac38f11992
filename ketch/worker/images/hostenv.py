"""A ``debian_slim()`` base layer made from the Python and the packages this worker runs with.

When the image's Python is the very interpreter ketch runs on, its base layer needs no build
container, no package index and no compiler: ``uv venv`` makes the virtualenv on the host, in
the layer's directory (the few absolute paths it writes, in the activation scripts, are then
moved to where the image sees the virtualenv), and ketch's runtime packages (`steps.RUNTIME`
and what they require, markers evaluated for this interpreter) are copied from ketch's own
environment. They are the versions the agent runs with here, with their bytecode: the copies
keep their sources' modification times, so that timestamp pycs stay valid; a missing or stale
pyc is compiled into the layer. Where ketch's environment cannot give a package as a plain
installed wheel (an editable install, files outside its site-packages, a script that is no
entry point), `runtime_packages` says so and the builder installs them with uv instead.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import py_compile
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from . import steps
from .steps import PYTHON, VENV, runtime_pins

Distribution = importlib.metadata.Distribution
SITE = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
SCRIPTS = "../../../bin/"  # where a wheel's scripts are, from a virtualenv's site-packages
# uv's console script, so that a copied package's scripts are the ones `uv pip install` writes
SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import sys
from {module} import {name}
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit({call}())
"""


@dataclass(frozen=True)
class Package:
    """An installed wheel to copy: where it is, its files there (less their bytecode and its
    scripts) and its entry points' scripts, as (name, module, attribute)."""

    name: str
    root: Path
    files: tuple[str, ...]
    scripts: tuple[tuple[str, str, str], ...]


def runtime_packages() -> tuple[Package, ...] | None:
    """The installed distributions of `runtime_pins` and of everything they require, or None
    where one of them is missing, of another version, or cannot be copied. Looked up again
    only when a folder they are in has changed (an install or an uninstall there changes its
    modification time): reading their metadata costs as much as copying them."""
    key = (steps.RUNTIME, tuple(sys.path))
    if key in _found:
        state, packages = _found[key]
        if all(_mtime(folder) == mtime for folder, mtime in state):
            return packages
    found = _lookup(tuple(runtime_pins()))
    _found.clear()
    if found is not None:
        _found[key] = (tuple((p.root, _mtime(p.root)) for p in found), found)
    return found


_found: dict[object, tuple[tuple[tuple[Path, int], ...], tuple[Package, ...]]] = {}


def _mtime(folder: Path) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return -1


def _lookup(pins: tuple[str, ...]) -> tuple[Package, ...] | None:
    found: dict[str, Package] = {}
    dists: dict[str, Distribution] = {}
    seen: set[tuple[str, str]] = set()
    wanted = [Requirement(pin) for pin in pins]
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if name not in found:
            try:
                dist = importlib.metadata.distribution(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                return None
            package = _package(dist)
            if package is None:
                return None
            found[name], dists[name] = package, dist
        if not requirement.specifier.contains(dists[name].version, prereleases=True):
            return None
        for extra in ("", *sorted(requirement.extras)):
            if (name, extra) not in seen:
                seen.add((name, extra))
                wanted += _requires(dists[name], extra)
    return tuple(found[name] for name in sorted(found))


def _requires(dist: Distribution, extra: str) -> list[Requirement]:
    needed = []
    for text in dist.requires or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if (marker is None and not extra) or (marker and marker.evaluate({"extra": extra})):
            needed.append(requirement)
    return needed


def _package(dist: Distribution) -> Package | None:
    """``dist`` to copy, if it is a wheel installed in a site-packages, every file of it
    present; else None."""
    root = Path(str(dist.locate_file("")))
    if dist.files is None or root.name != "site-packages":
        return None
    direct = dist.read_text("direct_url.json")
    if direct and json.loads(direct).get("dir_info", {}).get("editable"):
        return None
    scripts = tuple((entry.name, entry.module, entry.attr) for entry in dist.entry_points
                    if entry.group in ("console_scripts", "gui_scripts"))
    files = []
    for file in dist.files:
        path = file.as_posix()
        if "__pycache__" in file.parts:
            continue  # each source's pyc is seen to when it is copied
        if path.startswith(SCRIPTS) and "/" not in path[len(SCRIPTS):]:
            if file.name not in {script[0] for script in scripts}:
                return None  # a wheel's own script: its text may name ketch's environment
        elif path.startswith(("/", "../")) or not (root / path).exists():
            return None
        else:
            files.append(path)
    return Package(dist.metadata["Name"], root, tuple(files), scripts)


def build(fs: Path, uv: str, python: str) -> bool:
    """Make the virtualenv ``VENV`` in the layer directory ``fs`` with ketch's runtime
    packages; False, and ``fs`` left empty, where ketch's environment cannot give them.
    Raises `subprocess.CalledProcessError` (with uv's output) if uv cannot make it."""
    venv = fs / VENV.lstrip("/")
    staged = fs.parent / "site-packages"  # filled while uv makes the virtualenv, then moved in
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    with subprocess.Popen([uv, "venv", "--quiet", "--python", python, str(venv)], env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as made:
        try:
            packages = runtime_packages()
            for package in packages or ():
                _copy(package, staged)
        except OSError:  # ketch's environment changed under us: as if it had not the packages
            _found.clear()
            packages = None
        finally:
            output, _ = made.communicate()
    if packages is None:
        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(fs)
        fs.mkdir()
        return False
    if made.returncode:
        raise subprocess.CalledProcessError(made.returncode, made.args, output)
    _relocate(venv)
    (venv / SITE).rmdir()
    staged.rename(venv / SITE)
    for package in packages:
        _scripts(package, venv / "bin")
    return True


def _relocate(venv: Path) -> None:
    """Name ``VENV`` where uv wrote the path it made the virtualenv at."""
    made, meant = str(venv).encode(), VENV.encode()
    for directory, _, files in os.walk(venv):
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink() and made in (text := path.read_bytes()):
                path.write_bytes(text.replace(made, meant))


def _copy(package: Package, site: Path) -> None:
    made: set[Path] = set()
    for path in package.files:
        target = site / path
        folders = [target.parent]
        if path.endswith(".py"):
            folders.append(target.parent / "__pycache__")
        for folder in folders:
            if folder not in made:
                folder.mkdir(parents=True, exist_ok=True)
                made.add(folder)
        _copy_file(package.root / path, target)
        if path.endswith(".py"):
            _bytecode(package.root / path, target, f"{VENV}/{SITE}/{path}")


def _copy_file(source: Path, target: Path) -> None:
    """Copy a file's bytes, mode and times (``shutil.copy2`` less its checks, which here
    cost as much as the copy)."""
    stat = os.stat(source)
    reader = os.open(source, os.O_RDONLY)
    try:
        writer = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.st_mode & 0o7777)
        try:
            left = stat.st_size
            while left > 0 and (sent := os.sendfile(writer, reader, None, left)):
                left -= sent
            os.utime(writer, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        finally:
            os.close(writer)
    finally:
        os.close(reader)


def _scripts(package: Package, bin: Path) -> None:
    for name, module, attribute in package.scripts:
        script = bin / name
        script.write_text(SCRIPT.format(python=PYTHON, module=module,
                                        name=attribute.split(".")[0], call=attribute))
        script.chmod(0o755)


def _bytecode(source: Path, target: Path, seen_as: str) -> None:
    """Put ``source``'s pyc in the ``__pycache__`` beside ``target`` (its copy): ketch's own
    where it is valid for the source, else compiled, as the image will see it, at ``seen_as``."""
    tag = sys.implementation.cache_tag
    name = f"__pycache__/{source.stem}.{tag}.pyc"
    cached, pyc = source.parent / name, target.parent / name
    if _valid(cached, source):
        _copy_file(cached, pyc)
        return
    try:
        py_compile.compile(str(target), cfile=str(pyc), dfile=seen_as, doraise=True)
    except py_compile.PyCompileError:
        pass  # as a compiler that skips what it cannot compile: the import will say why


def _valid(pyc: Path, source: Path) -> bool:
    """Whether ``pyc`` is this interpreter's bytecode of ``source`` as it is now."""
    try:
        with open(pyc, "rb") as f:
            head = f.read(16)
        stat = source.stat()
    except OSError:
        return False
    if len(head) < 16 or head[:4] != importlib.util.MAGIC_NUMBER:
        return False
    if int.from_bytes(head[4:8], "little") & 1:  # hash-based
        return head[8:16] == importlib.util.source_hash(source.read_bytes())
    return (int.from_bytes(head[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(head[12:16], "little") == stat.st_size & 0xFFFFFFFF)
