"""add_python's standalone CPython, installed for real by uv with no internet: the test makes
its own python-build-standalone download (an install_only .tar.gz of this machine's CPython),
lists it in a downloads JSON that replaces uv's own, and serves it over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standalone_python import KEY, MINOR, PATCH, Server, downloads_json, make_build, unusable

import ketch
from ketch import config, exception
from ketch.image import check_add_python
from ketch.worker.images import standalone


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = unusable()
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


def run_copy(fs: Path, code: str) -> str:
    """Run the copied interpreter from its new place."""
    env = {"PATH": "/usr/bin:/bin"}
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
        check_add_python(version)
    with pytest.raises(exception.InvalidError, match="add_python"):
        ketch.Image.from_registry("python:3.12", add_python=version)


@pytest.mark.parametrize("version", ["3.9", "3.12", "3.13.1", "3.14"])
def test_check_version_accepts(version: str) -> None:
    check_add_python(version)


def test_images_settings_must_be_a_table(home: Path) -> None:
    (home / "config.toml").write_text('images = "offline"\n')
    with pytest.raises(exception.InvalidError, match=r"\[images\]"):
        config.images_settings()
    write_config(home, offline=True, python_mirror="http://mirror")
    assert config.images_settings() == {"offline": True, "python_mirror": "http://mirror"}
