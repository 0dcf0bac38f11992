"""What each image step runs in its build container (a shell script), or copies directly."""

from __future__ import annotations

import importlib.metadata
import re
import shlex
from pathlib import Path
from typing import Any

VENV = "/opt/ketch/venv"
PYTHON = f"{VENV}/bin/python"
SDK = "/opt/ketch/sdk"
INPUTS = "/run/ketch-build"
ROOTED_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's default
# What the container agent imports from the image's virtualenv: uvicorn serves web endpoints
# (Modal's images need no web server for asgi_app or wsgi_app, only the user's framework).
RUNTIME = ("cloudpickle", "msgspec", "uvicorn")


def runtime_pins() -> list[str]:
    """The packages the container agent needs, at the versions this ketch runs with; the
    ``base`` and ``venv`` steps install them, and their layers' ids depend on them."""
    return [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME]


def describe(step: dict[str, Any]) -> str:
    kind: str = step["kind"]
    if kind == "base":
        return f"debian_slim(python_version={step['python']!r})"
    if kind == "registry":
        return f"from_registry({step['ref']!r})"
    if kind == "python":
        return f"add_python({step['version']!r})"
    if kind == "venv":
        return "ketch's virtualenv on the image's Python"
    if kind == "pip":
        return "uv_pip_install(" + ", ".join(step["packages"] + [
            f"<requirements {i}>" for i, _ in enumerate(step["requirements"])]) + ")"
    if kind == "apt":
        return "apt_install(" + ", ".join(step["packages"]) + ")"
    if kind == "run":
        return "run_commands(" + "; ".join(step["commands"])[:80] + ")"
    if kind == "function":
        return f"run_function({step['name']})"
    if kind.startswith(("copy_", "mount_")):
        return f"add_local_{kind.split('_')[1]}({step['local']} → {step['remote']})"
    return kind


def script(step: dict[str, Any], uv: str, python_path: str | None, pins: list[str],
           inputs: Path, bytecode: bool = True) -> str:
    """The shell script that performs ``step`` inside the build container; ``bytecode``
    False leaves a ``pip`` step's compiling to the builder (see precompile.py)."""
    kind = step["kind"]
    q = shlex.quote
    # The runtime pins are exact versions: uv's cache alone has them, unless this machine never
    # installed them, and then the index does (uv's index check costs more than the install).
    install = f"{q(uv)} pip install --quiet --compile-bytecode --python {PYTHON}"
    runtime = (f"{install} --offline {' '.join(map(q, pins))} 2>/dev/null || "
               f"{install} {' '.join(map(q, pins))}\n")
    if kind == "base":
        return f"set -e\n{q(uv)} venv --quiet --python {q(python_path or '')} {VENV}\n{runtime}"
    if kind == "venv":
        return (
            'set -e\nPY="$(command -v python3 || command -v python || true)"\n'
            'if [ -z "$PY" ] || ! "$PY" -c "import sys; sys.exit(sys.version_info < (3, 11))"; '
            'then\n  echo "ketch: this image has no Python 3.11 or newer on its PATH ($PATH):'
            ' pass add_python=\'3.12\' to Image.from_registry, or start from an image with'
            ' Python" >&2\n  exit 3\nfi\n'
            f'{q(uv)} venv --quiet --system-site-packages --python "$PY" {VENV}\n{runtime}')
    if kind == "pip":
        args = " ".join(map(q, pip_args(step, inputs, INPUTS)))
        extra = step.get("extra_options") or ""
        compile_ = "--compile-bytecode " if bytecode else ""
        return f"set -e\n{q(uv)} pip install {compile_}--python {PYTHON} {args} {extra}\n"
    if kind == "apt":
        packages = " ".join(q(p) for p in step["packages"])
        return ("set -e\nexport DEBIAN_FRONTEND=noninteractive\napt-get update -q\n"
                f"apt-get install -y -q --no-install-recommends {packages}\n"
                "rm -rf /var/lib/apt/lists/*\n")
    if kind == "run":
        return "set -e\n" + "\n".join(step["commands"]) + "\n"
    if kind == "function":
        (inputs / "function.pkl").write_bytes(step["payload"])
        code = (f"import pickle; f, a, k = pickle.load(open('{INPUTS}/function.pkl', 'rb')); "
                "f(*a, **k)")
        return f"set -e\nPYTHONPATH={SDK} {PYTHON} -c {q(code)}\n"
    raise ValueError(f"step {kind!r} has no build script")


def pip_args(step: dict[str, Any], inputs: Path, seen_at: str) -> list[str]:
    """A ``pip`` step's arguments to ``uv pip install`` (less its ``extra_options``), its
    requirements files written to ``inputs``, which uv sees at ``seen_at``."""
    args = list(step["packages"])
    for i, text in enumerate(step["requirements"]):
        (inputs / f"requirements-{i}.txt").write_text(text)
        args += ["-r", f"{seen_at}/requirements-{i}.txt"]
    for flag, value in (("--index-url", step.get("index_url")),
                        ("--extra-index-url", step.get("extra_index_url")),
                        ("--find-links", step.get("find_links"))):
        if value:
            args += [flag, value]
    if step.get("pre"):
        args.append("--prerelease=allow")
    return args


_REFERENCE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def expand(values: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """A Dockerfile ENV's values with ``$NAME`` and ``${NAME}`` taken from the image's
    environment so far (``ENV PATH=/opt/bin:$PATH``); an unset name is empty, as in Docker."""
    def value(match: re.Match[str]) -> str:
        return env.get(match.group(1) or match.group(2), "")

    return {key: _REFERENCE.sub(value, text) for key, text in values.items()}
