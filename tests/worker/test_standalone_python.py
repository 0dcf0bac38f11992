"""add_python's standalone CPython, installed for real by uv with no internet: the test makes
its own python-build-standalone download (an install_only .tar.gz of this machine's CPython),
lists it in a downloads JSON that replaces uv's own, and serves it over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import io
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ketch import config, exception
from ketch.worker.images import standalone

PREFIX = Path(sys.base_prefix)
MINOR = f"3.{sys.version_info.minor}"
PATCH = f"{MINOR}.{sys.version_info.micro}"
ARCH = platform.machine()
KEY = f"cpython-{PATCH}-linux-{ARCH}-gnu"
ARCHIVE = f"cpython-{PATCH}+20240101-{ARCH}-unknown-linux-gnu-install_only.tar.gz"
LEFT_OUT = {"__pycache__", "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip"}


def _unusable() -> str | None:
    """Why this machine's interpreter cannot stand in for a python-build-standalone build."""
    python = PREFIX / "bin" / f"python{MINOR}"
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return "the stand-in build is made for linux-gnu"
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
        tar.add(str(PREFIX / "bin" / f"python{MINOR}"), f"python/bin/python{MINOR}")
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


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = _unusable()
    if reason:
        pytest.skip(reason)
    return make_build(tmp_path_factory.mktemp("pbs"))


@pytest.fixture
def server(build: Path) -> Iterator[Server]:
    served = Server(build.parent)
    yield served
    served.close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A KETCH_HOME of the test's own (its config.toml and its downloaded Pythons go with it),
    and a uv cache of its own so that nothing downloaded before is found there."""
    monkeypatch.setenv("KETCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def write_config(home: Path, **images: Any) -> None:
    lines = ["[images]"] + [f"{key} = {json.dumps(value)}" for key, value in images.items()]
    (home / "config.toml").write_text("\n".join(lines) + "\n")


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


def run_copy(fs: Path, code: str) -> str:
    """Run the copied interpreter from its new place. The stand-in is pyenv's, linked to
    libpython by an absolute RUNPATH into its old prefix (a real standalone build says
    $ORIGIN/../lib); LD_LIBRARY_PATH, searched before RUNPATH, makes it load the copy's."""
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": str(fs / "usr/local/lib")}
    out = subprocess.run([str(fs / "usr/local/bin/python3"), "-c", code], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_standalone_python_is_downloaded_once_and_runs_from_the_image(
        build: Path, server: Server, home: Path, tmp_path: Path) -> None:
    write_config(home, python_downloads_json=str(downloads_json(build, server, tmp_path)))
    logs: list[list[str]] = [[], [], []]

    started = time.monotonic()
    python = asyncio.run(standalone.install_python(MINOR, tmp_path / "fs1", logs[0].append))
    first = time.monotonic() - started
    assert python == f"/usr/local/bin/python{MINOR}"
    assert server.requests == [f"/{build.name}"], server.requests
    assert any(f"Downloaded {KEY}" in line for line in logs[0]), logs[0]

    started = time.monotonic()  # another image, the same version: a copy, no download
    asyncio.run(standalone.install_python(PATCH, tmp_path / "fs2", logs[1].append))
    second = time.monotonic() - started
    assert server.requests == [f"/{build.name}"], server.requests
    assert any("already on this machine" in line for line in logs[1]), logs[1]
    print(f"first install {first:.2f}s, second {second:.2f}s")

    write_config(home, offline=True)  # what is here is enough
    asyncio.run(standalone.install_python(MINOR, tmp_path / "fs3", logs[2].append))

    fs = tmp_path / "fs2"
    bin_dir = fs / "usr/local/bin"
    assert os.readlink(bin_dir / "python3") == f"python{MINOR}"
    assert os.readlink(bin_dir / "python") == f"python{MINOR}"
    assert os.stat(bin_dir / f"python{MINOR}").st_mode & 0o111
    assert (fs / f"usr/local/lib/python{MINOR}/os.py").is_file()
    assert (fs / f"usr/local/include/python{MINOR}/Python.h").is_file()

    out = run_copy(fs, "import sys, ssl, sqlite3, sysconfig; print(sys.version); "
                       "print(sys.prefix); print(sysconfig.get_config_var('LIBDIR')); "
                       "print(open('/proc/self/maps').read())")
    version, prefix, libdir, maps = out.split("\n", 3)
    assert version.startswith(PATCH)
    assert prefix == str(fs / "usr/local")
    assert libdir == "/usr/local/lib"  # uv's rewrite of /install, pointed at the image's prefix
    loaded = {line.split()[-1] for line in maps.splitlines() if "libpython" in line}
    assert loaded and all(path.startswith(str(fs)) for path in loaded), loaded


def test_two_builds_at_once_download_once(build: Path, server: Server, home: Path,
                                          tmp_path: Path) -> None:
    write_config(home, python_downloads_json=str(downloads_json(build, server, tmp_path)))

    async def both() -> list[str]:
        return await asyncio.gather(*(standalone.install_python(
            MINOR, tmp_path / f"fs{i}", lambda line: None) for i in (1, 2)))

    assert asyncio.run(both()) == [f"/usr/local/bin/python{MINOR}"] * 2
    assert server.requests == [f"/{build.name}"], server.requests
    for i in (1, 2):
        assert (tmp_path / f"fs{i}/usr/local/bin/python3").exists()


def test_a_version_uv_does_not_know_names_it_and_quotes_uv(
        build: Path, server: Server, home: Path, tmp_path: Path) -> None:
    write_config(home, python_downloads_json=str(downloads_json(build, server, tmp_path)))
    with pytest.raises(exception.InvalidError) as raised:
        asyncio.run(standalone.install_python("3.99", tmp_path / "fs", lambda line: None))
    message = str(raised.value)
    assert "Python 3.99" in message
    assert "No download found" in message  # uv's own words
    assert "python_mirror" in message and "python_downloads_json" in message
    assert not server.requests


def test_a_failed_download_from_the_mirror_names_the_fix(server: Server, home: Path,
                                                         tmp_path: Path) -> None:
    """python_mirror replaces python-build-standalone's release URL in uv's own list."""
    write_config(home, python_mirror=f"{server.url}/mirror")
    with pytest.raises(exception.InvalidError) as raised:
        asyncio.run(standalone.install_python(MINOR, tmp_path / "fs", lambda line: None))
    assert any(re.match(rf"/mirror/.*cpython-{MINOR}\.\d+", path) for path in server.requests), \
        server.requests
    assert f"uv could not install Python {MINOR}" in str(raised.value)
    assert "python_mirror" in str(raised.value)
    assert not (tmp_path / "fs").exists()


def test_offline_without_a_copy_names_offline(home: Path, tmp_path: Path) -> None:
    write_config(home, offline=True)
    with pytest.raises(exception.InvalidError) as raised:
        asyncio.run(standalone.install_python("3.12", tmp_path / "fs", lambda line: None))
    message = str(raised.value)
    assert "Python 3.12" in message and "offline = true" in message
    assert "offline = false" in message and "python_mirror" in message


@pytest.mark.parametrize("version", ["3.8", "3", "2.7", "3.12.x", "3.12.7.1", "python3.12",
                                     "", " 3.12", 3.12])
def test_check_version_refuses(version: Any) -> None:
    with pytest.raises(exception.InvalidError, match="add_python"):
        standalone.check_version(version)


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.13.1", "3.14"])
def test_check_version_accepts(version: str) -> None:
    standalone.check_version(version)


def test_images_settings_must_be_a_table(home: Path) -> None:
    (home / "config.toml").write_text('images = "offline"\n')
    with pytest.raises(exception.InvalidError, match=r"\[images\]"):
        config.images_settings()
    write_config(home, offline=True, python_mirror="http://mirror")
    assert config.images_settings() == {"offline": True, "python_mirror": "http://mirror"}
