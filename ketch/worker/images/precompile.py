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

Run by another interpreter than ketch's, with ``-I -S``: it imports the standard library
alone. Its one argument is JSON: ``uv``, ``args`` (to ``uv pip install``), ``guess`` (a
directory to make), ``layer`` (the virtualenv in the layer's directory) and ``venv`` (where the
image sees it).
"""

from __future__ import annotations

import compileall
import json
import os
import subprocess
import sys
from typing import Any

SITE = "lib/python{}.{}/site-packages".format(*sys.version_info[:2])
TAG = sys.implementation.cache_tag
MANY = 64  # files worth compileall's pool of processes (it takes ~0.1 s to start)


def main(settings: dict[str, Any]) -> int:
    guess, seen_at = settings["guess"], settings["venv"] + "/" + SITE
    done = subprocess.run(
        [settings["uv"], "pip", "install", "--quiet", "--offline", "--link-mode", "symlink",
         "--python", sys.executable, "--target", guess, *settings["args"]],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if done.returncode == 0:
        _compile(guess, seen_at, len(_sources(guess)))
    if sys.stdin.readline().strip() != "compile":
        return 0  # the step failed
    site = os.path.join(settings["layer"], SITE)
    left = [rel for rel in _sources(site)
            if done.returncode != 0 or not _reuse(os.path.join(guess, rel),
                                                   os.path.join(site, rel))]
    if left:
        _compile(site, seen_at, len(left))
    return 0


def _compile(top: str, seen_at: str, count: int) -> None:
    """Compile what has no fresh pyc under ``top``, each file named as under ``seen_at``."""
    compileall.compile_dir(top, ddir=seen_at, quiet=2, workers=0 if count >= MANY else 1)


def _sources(top: str) -> list[str]:
    found = []
    for directory, folders, files in os.walk(top):
        folders[:] = [name for name in folders if name != "__pycache__"]
        for name in files:
            path = os.path.join(directory, name)
            if name.endswith(".py") and os.path.isfile(path):
                found.append(os.path.relpath(path, top))
    return found


def _pyc(source: str) -> str:
    directory, name = os.path.split(source)
    return os.path.join(directory, "__pycache__", f"{name[:-3]}.{TAG}.pyc")


def _reuse(twin: str, source: str) -> bool:
    """Give ``source`` the pyc of ``twin`` if their bytes are the same; whether it did."""
    try:
        with open(twin, "rb") as f, open(source, "rb") as g:
            if f.read() != g.read():
                return False
        with open(_pyc(twin), "rb") as f:
            pyc = bytearray(f.read())
    except OSError:
        return False
    if len(pyc) < 16:
        return False
    if int.from_bytes(pyc[4:8], "little") == 0:  # a timestamp pyc: the file's own
        stat = os.stat(source)
        pyc[8:12] = (int(stat.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
        pyc[12:16] = (stat.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    os.makedirs(os.path.dirname(_pyc(source)), exist_ok=True)
    with open(_pyc(source), "wb") as f:
        f.write(pyc)
    return True


if __name__ == "__main__":
    status = main(json.loads(sys.argv[1]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
