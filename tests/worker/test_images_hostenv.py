"""A debian_slim() base on the Python ketch runs on, made from ketch's own environment:
built for real, and then used by build containers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

import ketch
from ketch import config
from ketch.backends.namespace import NamespaceDriver
from ketch.worker.images import Builder, hostenv, steps

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
pytestmark = pytest.mark.skipif(problem is not None, reason=f"images need namespaces: {problem}")

BASE = ketch.Image.debian_slim()
VENV = Path(steps.VENV.lstrip("/"))


def fresh_pyc(source: Path) -> bool:
    """Whether the source's pyc is this interpreter's, for the source as it is (the check
    the import system makes)."""
    pyc = source.parent / "__pycache__" / f"{source.stem}.{sys.implementation.cache_tag}.pyc"
    if not pyc.exists():
        return False
    head, stat = pyc.read_bytes()[:16], source.stat()
    return (head[:4] == importlib.util.MAGIC_NUMBER and head[4:8] == bytes(4)
            and int.from_bytes(head[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(head[12:16], "little") == stat.st_size)


def test_the_base_holds_ketchs_runtime_packages_as_ketch_runs_them(build_layers):
    fs = build_layers(BASE)[0]
    site = fs / VENV / hostenv.SITE
    held = {canonicalize_name(d.metadata["Name"]): d.version
            for d in importlib.metadata.distributions(path=[str(site)])}
    assert held == {canonicalize_name(name): importlib.metadata.version(name) for name in held}
    assert {"cloudpickle", "msgspec", "uvicorn", "click", "h11"} <= set(held)
    sources = list(site.rglob("*.py"))
    assert sources and [s for s in sources if not fresh_pyc(s)] == []
    # uv's virtualenv, where the image sees it, and scripts that run its Python
    assert "VIRTUAL_ENV='/opt/ketch/venv'" in (fs / VENV / "bin" / "activate").read_text()
    assert os.readlink(fs / VENV / "bin" / "python") == os.path.realpath(sys._base_executable)
    assert (fs / VENV / "bin" / "uvicorn").read_text().startswith(
        "#!/opt/ketch/venv/bin/python\n")
    assert (fs / "opt" / "ketch" / "sdk" / "ketch").is_dir()  # the mount point of ketch's SDK
    scratch = [p for p in fs.rglob("*") if p.is_file() and b".building-" in p.read_bytes()]
    assert scratch == []


def test_its_packages_import_from_their_bytecode_and_its_scripts_run(build_layers):
    layers = build_layers(BASE.run_commands(
        "python -c 'import cloudpickle, msgspec, click, h11, uvicorn.main'",
        "uvicorn --version > /opt/uvicorn-version"))
    top = layers[-1]
    assert "uvicorn" in (top / "opt" / "uvicorn-version").read_text()
    assert list(top.rglob("*.pyc")) == []  # Python found each module's pyc fresh: it wrote none


def test_the_base_is_the_same_layer_every_time(tmp_path):
    first, second = (Path(asyncio.run(Builder(tmp_path / name).build(
        BASE.to_wire(), lambda line: None)).layers[0]) for name in ("a", "b"))
    assert first.parent.name == second.parent.name  # the layer's id

    def tree(fs: Path) -> dict[str, bytes]:
        return {str(p.relative_to(fs)): os.readlink(p).encode() if p.is_symlink()
                else p.read_bytes() if p.is_file() else b"/" for p in fs.rglob("*")}

    assert tree(first) == tree(second)


def installed(site: Path, name: str, version: str, requires: tuple[str, ...] = (),
              extra_files: tuple[str, ...] = (), direct_url: dict | None = None) -> None:
    """A distribution installed in ``site`` as a wheel installer leaves one."""
    package = name.replace("-", "_")
    info = site / f"{package}-{version}.dist-info"
    info.mkdir(parents=True)
    (site / package).mkdir()
    (site / package / "__init__.py").write_text(f"VERSION = {version!r}\n")
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires))
    if direct_url:
        (info / "direct_url.json").write_text(json.dumps(direct_url))
    files = [f"{package}/__init__.py", *(p.relative_to(site).as_posix() for p in info.iterdir()),
             *extra_files]
    lines = []
    for rel in files:
        data = (site / rel).read_bytes() if (site / rel).exists() else b""
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{rel},sha256={digest},{len(data)}")
    (info / "RECORD").write_text("\n".join([*lines, f"{info.name}/RECORD,,"]) + "\n")


def test_the_runtime_packages_are_what_they_require_on_this_python(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    installed(site, "ketch-test-agent", "1.0", requires=(
        "ketch-test-dep>=2", "ketch-test-absent; python_version < '3'",
        "ketch-test-absent; extra == 'more'"))
    installed(site, "ketch-test-dep", "2.1")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(steps, "RUNTIME", ("ketch-test-agent",))
    found = hostenv.runtime_packages()
    assert found is not None
    assert [package.name for package in found] == ["ketch-test-agent", "ketch-test-dep"]


@pytest.mark.parametrize("trouble", ["editable", "outside", "older", "missing"])
def test_packages_that_cannot_be_copied_are_left_to_uv(tmp_path, monkeypatch, trouble):
    site = tmp_path / "site-packages"
    installed(site, "ketch-test-agent", "1.0", requires=("ketch-test-dep>=2",),
              direct_url={"url": "file:///src", "dir_info": {"editable": True}}
              if trouble == "editable" else None,
              extra_files=("../../../share/ketch-test/data",) if trouble == "outside" else ())
    if trouble != "missing":
        installed(site, "ketch-test-dep", "1.5" if trouble == "older" else "2.0")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(steps, "RUNTIME", ("ketch-test-agent",))
    assert hostenv.runtime_packages() is None
