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
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def runtime_packages() -> list[Distribution] | None:
    """The installed distributions of `runtime_pins` and of everything they require, or None
    where one of them is missing, of another version, or cannot be copied."""
    found: dict[str, Distribution] = {}
    seen: set[tuple[str, str]] = set()
    wanted = [Requirement(pin) for pin in runtime_pins()]
    while wanted:
        requirement = wanted.pop()
        name = canonicalize_name(requirement.name)
        if name not in found:
            try:
                dist = importlib.metadata.distribution(requirement.name)
            except importlib.metadata.PackageNotFoundError:
                return None
            if not _copyable(dist):
                return None
            found[name] = dist
        if not requirement.specifier.contains(found[name].version, prereleases=True):
            return None
        for extra in ("", *sorted(requirement.extras)):
            if (name, extra) not in seen:
                seen.add((name, extra))
                wanted += _requires(found[name], extra)
    return [found[name] for name in sorted(found)]


def _requires(dist: Distribution, extra: str) -> list[Requirement]:
    needed = []
    for text in dist.requires or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if (marker is None and not extra) or (marker and marker.evaluate({"extra": extra})):
            needed.append(requirement)
    return needed


def _copyable(dist: Distribution) -> bool:
    """Whether ``dist`` is a wheel installed in a site-packages, every file of it present."""
    root = Path(str(dist.locate_file("")))
    if dist.files is None or root.name != "site-packages":
        return False
    direct = dist.read_text("direct_url.json")
    if direct and json.loads(direct).get("dir_info", {}).get("editable"):
        return False
    scripts = {entry.name for entry in dist.entry_points
               if entry.group in ("console_scripts", "gui_scripts")}
    for file in dist.files:
        path = file.as_posix()
        if "__pycache__" in file.parts:
            continue
        if path.startswith(SCRIPTS) and "/" not in path[len(SCRIPTS):]:
            if file.name not in scripts:
                return False  # a wheel's own script: its text may name ketch's environment
        elif path.startswith(("/", "../")) or not (root / path).exists():
            return False
    return True


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
            dists = runtime_packages()
            for dist in dists or []:
                _copy(dist, staged)
        except OSError:  # ketch's environment changed under us: as if it had not the packages
            dists = None
        finally:
            output, _ = made.communicate()
    if dists is None:
        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(fs)
        fs.mkdir()
        return False
    if made.returncode:
        raise subprocess.CalledProcessError(made.returncode, made.args, output)
    _relocate(venv)
    (venv / SITE).rmdir()
    staged.rename(venv / SITE)
    for dist in dists:
        _scripts(dist, venv / "bin")
    return True


def _relocate(venv: Path) -> None:
    """Name ``VENV`` where uv wrote the path it made the virtualenv at."""
    made, meant = str(venv).encode(), VENV.encode()
    for directory, _, files in os.walk(venv):
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink() and made in (text := path.read_bytes()):
                path.write_bytes(text.replace(made, meant))


def _copy(dist: Distribution, site: Path) -> None:
    root = Path(str(dist.locate_file("")))
    made: set[Path] = set()
    for file in dist.files or []:
        path = file.as_posix()
        if "__pycache__" in file.parts or path.startswith(SCRIPTS):
            continue  # each source's pyc is seen to below; scripts are written by `_scripts`
        target = site / path
        folders = [target.parent]
        if path.endswith(".py"):
            folders.append(target.parent / "__pycache__")
        for folder in folders:
            if folder not in made:
                folder.mkdir(parents=True, exist_ok=True)
                made.add(folder)
        _copy_file(root / path, target)
        if path.endswith(".py"):
            _bytecode(root / path, target, f"{VENV}/{SITE}/{path}")


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


def _scripts(dist: Distribution, bin: Path) -> None:
    for entry in dist.entry_points:
        if entry.group in ("console_scripts", "gui_scripts"):
            script = bin / entry.name
            script.write_text(SCRIPT.format(python=PYTHON, module=entry.module,
                                            name=entry.attr.split(".")[0], call=entry.attr))
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
