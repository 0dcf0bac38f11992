"""Bytecode for a ``uv_pip_install`` layer, compiled on the host while uv asks the index.

Most of a pip step's time is uv's index check (the network) and then compiling what it
installed; this script does the compiling's share during the check. The builder starts it with
the image's own interpreter (a host path: the image stands on this machine's OS) when the
step's uv first speaks in its build container, and it:

1. guesses what the step installs: ``uv pip install --offline --target GUESS`` of the same
   requirements, from uv's cache alone (a guess that fails or differs costs only time), its
   files links into uv's cache (read, never written: a pyc replaces a link, not its target);
2. compiles the guess, each file as the image will see it (``VENV/lib/pythonX.Y/...``);
3. waits for the line ``compile`` on stdin: the step's build container has written the layer
   and exited (anything else: the step failed, nothing to do);
4. gives each ``.py`` file there the pyc of its guessed twin (same path, same bytes; its
   header's modification time and size made the file's own), compiles the rest, and exits
   at once (the builder waits for it, not for an interpreter's winding down; it removes the
   guess itself).

The layer was written by the step's own commands (``extra_options`` are shell words), and
this script runs on the host as root: in the layer it reads and writes only the layer's own
files and folders, never through a link, which would lead to the host's files.

Run by another interpreter than ketch's, with ``-I -S``: it imports the standard library
alone. Its one argument is JSON: ``uv``, ``args`` (to ``uv pip install``), ``guess`` (a
directory to make), ``layer`` (the virtualenv in the layer's directory) and ``venv`` (where the
image sees it).
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import stat
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

SITE = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])
TAG = sys.implementation.cache_tag
MANY = 64  # files worth a pool of compiling processes (it takes ~0.1 s to start)


def main(settings: dict[str, Any]) -> int:
    guess, seen_at = settings["guess"], settings["venv"] + "/" + SITE
    done = subprocess.run(
        [settings["uv"], "pip", "install", "--quiet", "--offline", "--link-mode", "symlink",
         "--python", sys.executable, "--target", guess, *settings["args"]],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    guessed = _sources(guess, links=True) if done.returncode == 0 else []
    _compile(guess, seen_at, guessed, links=True)
    if sys.stdin.readline().strip() != "compile":
        return 0  # the step failed
    site, twins = os.path.join(settings["layer"], SITE), set(guessed)
    left = [rel for rel in _sources(site, links=False)
            if rel not in twins or not _reuse(os.path.join(guess, rel), os.path.join(site, rel))]
    _compile(site, seen_at, left, links=False)
    return 0


def _sources(top: str, links: bool) -> list[str]:
    """The ``.py`` files under ``top``; ``links``: also links to files (the guess's, into
    uv's cache). A layer was written by the step's own commands: what this script reads or
    writes there must be the layer's own files, never a host file a link points to."""
    found = []
    for directory, folders, files in os.walk(top):  # into no linked folder
        folders[:] = [name for name in folders if name != "__pycache__"]
        for name in files:
            path = os.path.join(directory, name)
            if name.endswith(".py") and (os.path.isfile(path) if links else _regular(path)):
                found.append(os.path.relpath(path, top))
    return found


def _compile(top: str, seen_at: str, sources: list[str], links: bool) -> None:
    """Compile ``sources`` (paths under ``top``), each named as under ``seen_at``."""
    jobs = [(top, seen_at, rel, links) for rel in sources]
    if len(jobs) < MANY:
        for job in jobs:
            _compile_one(job)
        return
    with ProcessPoolExecutor() as pool:
        list(pool.map(_compile_one, jobs, chunksize=16))


def _compile_one(job: tuple[str, str, str, bool]) -> None:
    top, seen_at, rel, links = job
    source = _read(os.path.join(top, rel), links)
    if source is None:
        return
    data, mtime, size = source
    try:
        code = compile(data, f"{seen_at}/{rel}", "exec", dont_inherit=True, optimize=0)
    except Exception:  # as compileall: what does not compile is left to the import to say
        return
    _write_pyc(os.path.join(top, rel), _header(mtime, size) + marshal.dumps(code))


def _reuse(twin: str, source: str) -> bool:
    """Give ``source`` the pyc of ``twin`` if their bytes are the same; whether it did."""
    read = _read(source, links=False)
    if read is None:
        return False
    data, mtime, size = read
    try:
        with open(twin, "rb") as f:
            same = f.read() == data
        with open(_pyc(twin), "rb") as f:
            pyc = f.read()
    except OSError:
        return False
    if not same or len(pyc) < 16 or pyc[4:8] != bytes(4):  # a timestamp pyc, as compiled here
        return False
    _write_pyc(source, _header(mtime, size) + pyc[16:])
    return True


def _read(path: str, links: bool) -> tuple[bytes, int, int] | None:
    """A file's bytes, modification time and size; None unless it is a regular file (through
    a link only where ``links``)."""
    try:
        fd = os.open(path, os.O_RDONLY | (0 if links else os.O_NOFOLLOW))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        return f.read(), int(info.st_mtime), info.st_size


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _header(mtime: int, size: int) -> bytes:
    """A timestamp pyc's header, as the import system checks it."""
    return (importlib.util.MAGIC_NUMBER + bytes(4) + (mtime & 0xFFFFFFFF).to_bytes(4, "little")
            + (size & 0xFFFFFFFF).to_bytes(4, "little"))


def _pyc(source: str) -> str:
    directory, name = os.path.split(source)
    return os.path.join(directory, "__pycache__", f"{name[:-3]}.{TAG}.pyc")


def _write_pyc(source: str, data: bytes) -> None:
    """Write ``source``'s pyc: in a ``__pycache__`` folder that is one (not a link), through
    a new file renamed over whatever had the name (a rename replaces a link, not its target)."""
    pyc = _pyc(source)
    folder = os.path.dirname(pyc)
    try:
        os.mkdir(folder)
    except FileExistsError:
        pass
    except OSError:
        return
    if not stat.S_ISDIR(os.lstat(folder).st_mode):
        return
    temporary = f"{pyc}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(temporary, pyc)


if __name__ == "__main__":
    status = main(json.loads(sys.argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
