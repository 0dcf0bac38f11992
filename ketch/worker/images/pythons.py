"""Find a Python interpreter of a requested version on this machine, without downloading one."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

from ... import exception


def _version_of(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def candidates() -> list[str]:
    """Interpreters worth asking: pyenv's, uv-managed ones, and the system's."""
    paths = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python3")))
    paths += sorted(glob.glob(os.path.expanduser("~/.local/share/uv/python/*/bin/python3")))
    for directory in ("/usr/local/bin", "/usr/bin"):
        paths += sorted(glob.glob(f"{directory}/python3.[0-9]*"))
    found = shutil.which("python3")
    if found:
        paths.append(found)
    return [p for p in dict.fromkeys(paths) if os.access(p, os.X_OK) and "config" not in p]


def available() -> dict[str, str]:
    """Version ("3.11") → interpreter path, for every Python 3 found here (the first wins)."""
    versions: dict[str, str] = {}
    for path in candidates():
        version = _version_of(path)
        if version and version.startswith("3.") and version not in versions:
            versions[version] = os.path.realpath(path)
    return versions


def running(version: str) -> str | None:
    """The interpreter behind this process (outside any virtualenv), if it is ``version``."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" != version:
        return None
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


def have(version: str) -> bool:
    return running(version) is not None or version in available()


def find(version: str) -> str:
    here = running(version)
    if here is not None:
        return here
    versions = available()
    if version in versions:
        return versions[version]
    have = ", ".join(sorted(versions, key=lambda v: tuple(int(x) for x in v.split(".")))) or "none"
    raise exception.InvalidError(
        f"Python {version} is not installed on this machine (ketch does not download "
        f"interpreters); the versions it has are: {have}. Pass one of them as python_version, "
        f"or install Python {version} (for example with pyenv or `uv python install`)"
    )
