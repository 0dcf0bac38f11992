"""uv_pip_install on this machine's OS: uv installs in a build container while precompile.py
compiles, on the host, the bytecode of what it guesses uv installs. Built for real (uv asks
the package index, as every pip step does), and the script run as the builder runs it."""

from __future__ import annotations

import base64
import hashlib
import json
import marshal
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import ketch
from ketch import config
from ketch.backends.namespace import NamespaceDriver
from ketch.worker.images import ImageBuildError, pipstep, pythons
from ketch.worker.images.buildbox import uv_binary

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
pytestmark = pytest.mark.skipif(problem is not None, reason=f"images need namespaces: {problem}")

SITE = "lib/python{}.{}/site-packages"
TAG = sys.implementation.cache_tag


def bytecode_of(source: Path, tag: str = TAG) -> tuple[bool, str]:
    """Whether the source's pyc is fresh for it (as the import system checks), and the file
    name its code was compiled as."""
    pyc = (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").read_bytes()
    stat = source.stat()
    fresh = (int.from_bytes(pyc[8:12], "little") == int(stat.st_mtime) & 0xFFFFFFFF
             and int.from_bytes(pyc[12:16], "little") == stat.st_size)
    return fresh, marshal.loads(pyc[16:]).co_filename if tag == TAG else ""


def test_a_pip_layer_has_fresh_bytecode_named_as_the_image_sees_it(build_layers):
    layers = build_layers(ketch.Image.debian_slim().uv_pip_install("six==1.16.0", "idna==3.10")
                   .run_commands("python -c 'import six, idna, idna.uts46data'"))
    pip_layer, run_layer = layers[-2], layers[-1]
    site = pip_layer / "opt/ketch/venv" / SITE.format(*sys.version_info[:2])
    sources = sorted(site.rglob("*.py"))
    assert {s.name for s in sources} >= {"six.py", "core.py", "uts46data.py"}
    for source in sources:
        fresh, name = bytecode_of(source)
        assert fresh and name == f"/{source.relative_to(pip_layer)}", source
    assert not (pip_layer.parent / "guess").exists()
    assert list(run_layer.rglob("*.pyc")) == []  # the imports found every pyc fresh


def test_a_failed_pip_step_stops_the_compiler_and_caches_nothing(image_builder, build_layers):
    layers = set(image_builder.store.root.glob("*/meta.json"))
    with pytest.raises(ImageBuildError, match="ketch-surely-not-a-package"):
        build_layers(ketch.Image.debian_slim().uv_pip_install("ketch-surely-not-a-package"))
    base = build_layers(ketch.Image.debian_slim())[0].parent / "meta.json"
    assert set(image_builder.store.root.glob("*/meta.json")) - layers <= {base}
    assert list(image_builder.store.root.glob("*.building-*")) == []
    left = [pid for pid in os.listdir("/proc") if pid.isdigit()
            and str(image_builder.store.root).encode() in _cmdline(pid)]
    assert left == []


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_the_compiler_follows_no_link_a_step_made_to_the_hosts_files(build_layers, tmp_path):
    # The step's own shell words (extra_options) leave links in the layer: a .py file that is
    # a host file, and a package whose __pycache__ is a host folder. On the host, following
    # them would read the one into the image and write into the other.
    secret, outside = tmp_path / "secret.py", tmp_path / "outside"
    secret.write_text("SECRET = 'of the host'\n")
    outside.mkdir()
    site = "/opt/ketch/venv/" + SITE.format(*sys.version_info[:2])
    layers = build_layers(ketch.Image.debian_slim().uv_pip_install(
        "six==1.16.0", extra_options=f"&& ln -s {secret} {site}/leak.py && mkdir {site}/pkg "
                                     f"&& echo 'X = 1' > {site}/pkg/mod.py "
                                     f"&& ln -s {outside} {site}/pkg/__pycache__"))
    layer_site = layers[-1] / site.lstrip("/")
    assert (layer_site / "leak.py").is_symlink() and (layer_site / "pkg/__pycache__").is_symlink()
    assert not list(layer_site.glob("__pycache__/leak.*"))
    assert list(outside.iterdir()) == []
    assert bytecode_of(layer_site / "six.py")[0]


def test_another_python_of_this_machine_compiles_for_itself(build_layers):
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    others = sorted((v for v in pythons.available() if v != here
                     and tuple(map(int, v.split("."))) >= (3, 11)),
                    key=lambda v: tuple(map(int, v.split("."))))
    if not others:
        pytest.skip("this machine has no other Python 3.11 or newer")
    version = others[0]
    image = (ketch.Image.debian_slim(python_version=version).uv_pip_install("six==1.16.0")
             .run_commands(f"python -c 'import sys, six; assert sys.version_info[:2] == "
                           f"({version.replace('.', ', ')})'"))
    layers = build_layers(image)
    six = layers[-2] / "opt/ketch/venv" / SITE.format(*version.split(".")) / "six.py"
    assert bytecode_of(six, f"cpython-{version.replace('.', '')}")[0]
    assert list(layers[-1].rglob("*.pyc")) == []


def wheel(directory: Path, files: dict[str, str]) -> Path:
    """A wheel of the distribution ketch-test-demo 1.0 holding ``files``."""
    info = "ketch_test_demo-1.0.dist-info"
    files = {**files, f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                       "Tag: py3-none-any\n",
             f"{info}/METADATA": "Metadata-Version: 2.1\nName: ketch-test-demo\nVersion: 1.0\n"}
    record = [f"{name},sha256={_digest(text.encode())},{len(text.encode())}"
              for name, text in files.items()]
    path = directory / "ketch_test_demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]) + "\n")
    return path


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_the_compiler_reuses_the_guess_for_the_same_bytes_and_compiles_the_rest(tmp_path):
    package = {"demo/__init__.py": "X = 1\n", "demo/mod.py": "Y = 2\n"}
    layer = tmp_path / "layer" / "venv"  # what the step's uv wrote: one file as guessed, one not
    site = layer / SITE.format(*sys.version_info[:2])
    (site / "demo").mkdir(parents=True)
    (site / "demo" / "__init__.py").write_text(package["demo/__init__.py"])
    (site / "demo" / "mod.py").write_text("Y = 3\n")
    guess = tmp_path / "guess"
    settings = {"uv": uv_binary(), "guess": str(guess), "venv": "/opt/ketch/venv",
                "layer": str(layer), "args": [str(wheel(tmp_path, package))]}
    compiler = subprocess.Popen([sys.executable, "-I", "-S", pipstep.PRECOMPILE,
                                 json.dumps(settings)], stdin=subprocess.PIPE)
    guessed = [guess / "demo" / "__pycache__" / f"{name}.{TAG}.pyc" for name in ("__init__", "mod")]
    deadline = time.monotonic() + 60
    while not all(p.exists() for p in guessed) and time.monotonic() < deadline:
        time.sleep(0.02)
    # Make the guess's bytecode of __init__.py tell itself apart from a compiler's
    guessed[0].write_bytes(guessed[0].read_bytes()[:16] + marshal.dumps(
        compile("X = 'guessed'\n", "/opt/ketch/venv/demo/__init__.py", "exec")))
    compiler.communicate(b"compile\n", timeout=60)
    assert compiler.returncode == 0
    seen = subprocess.run([sys.executable, "-B", "-c", "import demo.mod; print(demo.X, demo.mod.Y)"],
                          env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True,
                          text=True, check=True)
    assert seen.stdout.split() == ["guessed", "3"]
    assert bytecode_of(site / "demo" / "mod.py")[1] == (
        f"/opt/ketch/venv/{SITE.format(*sys.version_info[:2])}/demo/mod.py")
