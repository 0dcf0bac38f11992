"""A stand-in for a python-build-standalone download, made from this machine's CPython, and
an HTTP server for it on 127.0.0.1: what add_python installs, in tests with no internet.

    archive = make_build(tmp)                      # cpython-3.11.7+...-install_only.tar.gz
    server = Server(archive.parent)
    listing = downloads_json(archive, server, tmp)  # for [images] python_downloads_json
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import platform
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

PREFIX = Path(sys.base_prefix)
MINOR = f"3.{sys.version_info.minor}"
PATCH = f"{MINOR}.{sys.version_info.micro}"
ARCH = platform.machine()
KEY = f"cpython-{PATCH}-linux-{ARCH}-gnu"
ARCHIVE = f"cpython-{PATCH}+20240101-{ARCH}-unknown-linux-gnu-install_only.tar.gz"
LEFT_OUT = {"__pycache__", "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip"}


def unusable() -> str | None:
    """Why this machine's interpreter cannot stand in for a python-build-standalone build."""
    python = PREFIX / "bin" / f"python{MINOR}"
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return "the stand-in build is made for linux-gnu"
    if shutil.which("patchelf") is None:
        return "patchelf is not installed (./dev.sh test installs it)"
    if sys.implementation.name != "cpython" or not python.is_file() or python.is_symlink():
        return f"{python} is not a CPython executable to pack"
    try:
        ldd = subprocess.run(["ldd", str(python)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"ldd cannot read {python}: {exc}"
    for line in ldd.stdout.splitlines():
        if "libpython" in line and not line.split("=>")[-1].strip().startswith(str(PREFIX)):
            return f"{python} loads libpython from outside {PREFIX}: {line.strip()}"
    return None


def _keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = info.name.split("/")  # python/lib/python3.11/...
    if LEFT_OUT.intersection(parts[3:]) or parts[3:4] == ["site-packages"] and len(parts) > 4:
        return None
    if len(parts) > 3 and parts[1:3] == ["lib", f"python{MINOR}"] and info.name.endswith(".a"):
        return None  # the static libpython in config-3.X: 40 MB nobody here links against
    return info


def _prefixed(tar: tarfile.TarFile, path: Path, name: str) -> None:
    """Add a text file whose build prefix is written as python-build-standalone writes it."""
    data = path.read_bytes().replace(str(PREFIX).encode(), b"/install")
    info = tar.gettarinfo(str(path), name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_build(directory: Path) -> Path:
    """An install_only archive: python/ holding bin/, lib/ and include/."""
    archive = directory / ARCHIVE
    lib = PREFIX / "lib" / f"python{MINOR}"
    sysconfigdata = {p.name for p in lib.glob("_sysconfigdata_*.py")}
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(str(_relocatable(directory)), f"python/bin/python{MINOR}")
        link = tarfile.TarInfo("python/bin/python3")  # and no `python`: ketch adds it
        link.type, link.linkname, link.mode = tarfile.SYMTYPE, f"python{MINOR}", 0o777
        tar.addfile(link)
        for entry in sorted((PREFIX / "lib").iterdir()):
            if entry.name.startswith("libpython"):
                tar.add(str(entry), f"python/lib/{entry.name}")
        for entry in sorted(lib.iterdir()):
            name = f"python/lib/python{MINOR}/{entry.name}"
            if entry.name in sysconfigdata:
                _prefixed(tar, entry, name)
            else:
                tar.add(str(entry), name, filter=_keep)
        for pc in sorted((PREFIX / "lib" / "pkgconfig").glob("*.pc")):
            if not pc.is_symlink():
                _prefixed(tar, pc, f"python/lib/pkgconfig/{pc.name}")
        tar.add(str(PREFIX / "include"), "python/include")
    return archive


def _relocatable(directory: Path) -> Path:
    """This interpreter, finding its libpython beside itself ($ORIGIN/../lib) as a real
    standalone build does, rather than in the prefix it was built for."""
    copy = directory / f"python{MINOR}"
    shutil.copy2(PREFIX / "bin" / f"python{MINOR}", copy)
    subprocess.run(["patchelf", "--set-rpath", "$ORIGIN/../lib", str(copy)], check=True)
    return copy


class Server:
    """Files of one directory over HTTP on 127.0.0.1, counting the requests."""

    def __init__(self, directory: Path) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(directory), **kwargs)

            def do_GET(self) -> None:
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def downloads_json(build: Path, server: Server, directory: Path) -> Path:
    """uv's --python-downloads-json-url format: its download-metadata.json, one key a build."""
    entry = {
        "name": "cpython", "arch": {"family": ARCH, "variant": None}, "os": "linux",
        "libc": "gnu", "major": 3, "minor": sys.version_info.minor,
        "patch": sys.version_info.micro, "prerelease": "", "url": f"{server.url}/{build.name}",
        "sha256": hashlib.sha256(build.read_bytes()).hexdigest(), "variant": None,
        "build": "20240101",
    }
    path = directory / "downloads.json"
    path.write_text(json.dumps({KEY: entry}, indent=2))
    return path


