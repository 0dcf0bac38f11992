"""Modal programs, written as Modal's users write them, run unchanged through ``ketch run`` and
``ketch python`` in real subprocesses. Each run has a timeout, so a program that hangs (at exit
too) fails its test instead of blocking the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ketch
from ketch import exception, modal_names

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).parent / "programs"


def ketch_cli(*args: str, timeout: float = 120,
              cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``ketch ARGS`` as a user runs it in ``cwd``; a run past ``timeout`` fails the test that
    asked."""
    env = dict(os.environ)
    env.pop("KETCH_SERVER", None)
    try:
        return subprocess.run(
            [sys.executable, "-m", "ketch.cli", *args], cwd=cwd, env=env, capture_output=True,
            text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"`ketch {' '.join(args)}` did not exit within {timeout}s; its output:\n"
                    f"{_text(hung.stdout)}\n{_text(hung.stderr)}")


def _text(stream: bytes | str | None) -> str:
    return stream.decode(errors="replace") if isinstance(stream, bytes) else (stream or "")


def test_batched_only_class_batches_remote_and_map_calls():
    result = ketch_cli("run", str(PROGRAMS / "batched_class.py"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "remote 42" in lines
    assert "map [0, 2, 4, 6, 8, 10, 12, 14]" in lines
    # eight inputs sent at once, max_batch_size=4, wait_ms=500: they arrive batched
    largest = int(next(line for line in lines if line.startswith("largest batch")).split()[-1])
    assert 1 < largest <= 4


def test_a_batched_class_method_must_be_its_only_remote_method():
    app = ketch.App("compat-batched-rules")

    class Mixed:
        @ketch.batched(max_batch_size=2, wait_ms=10)
        def many(self, xs):
            return xs

        @ketch.method()
        def one(self, x):
            return x

    with pytest.raises(exception.InvalidError, match="cannot have other remote methods"):
        app.cls(serialized=True)(Mixed)

    class Twice:
        @ketch.batched(max_batch_size=2, wait_ms=10)
        def a(self, xs):
            return xs

        @ketch.batched(max_batch_size=2, wait_ms=10)
        def b(self, xs):
            return xs

    with pytest.raises(exception.InvalidError, match="only have one @ketch.batched method"):
        app.cls(serialized=True)(Twice)


def test_program_leaving_a_sandbox_stream_iterator_open_exits():
    # the unfinished iterator is collected at interpreter exit, when ketch's loop is frozen
    result = ketch_cli("python", str(PROGRAMS / "sandbox_open_iterator.py"), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["got first", "terminated"]
    assert "Traceback" not in result.stderr and "never awaited" not in result.stderr


def test_map_return_exceptions_wraps_them_by_default_as_modal_1x():
    result = ketch_cli("run", str(PROGRAMS / "map_return_exceptions.py"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "map 0, UserCodeException(ValueError: odd 1), 2" in lines
    assert "starmap UserCodeException(ValueError: odd 1), 2" in lines
    assert "unwrapped 0, ValueError(odd 1), 2" in lines
    assert "raised odd 1" in lines


def test_program_importing_modal_submodules_runs():
    result = ketch_cli("python", str(PROGRAMS / "submodules.py"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert {"square 49 [4, 9]", "queue 1", "caught not found"} <= set(lines)
    assert [line for line in lines if line.startswith("unimplemented")] == [
        "unimplemented modal.gpu.A100", "unimplemented modal.runner.deploy_app",
        "unimplemented modal.mount.Mount"]


# Imports every name of every submodule in the table with the alias installed: each is a ketch
# object or a placeholder whose use (not its import) raises UnimplementedError.
EVERY_NAME = """
import importlib, ketch.modal_alias as alias
alias.install()
from ketch import exception, modal_names
real = []
for sub in modal_names.SUBMODULES:
    module = importlib.import_module("modal." + sub if sub else "modal")
    for name in modal_names.names(sub):
        value = getattr(module, name)
        assert value is getattr(module, name), (sub, name)
        if isinstance(value, modal_names._Unimplemented):
            try:
                value()
            except exception.UnimplementedError as exc:
                # a top-level name is its submodule's placeholder: modal.Proxy, modal.proxy.Proxy
                qualified = ".".join(filter(None, ("modal", sub, name)))
                assert str(exc).startswith(qualified if sub else "modal."), exc
                assert "is part of Modal's API that ketch does not implement" in str(exc), exc
            else:
                raise AssertionError((sub, name))
        else:
            real.append(f"{sub}.{name}")
print(" ".join(real))
"""


def test_every_modal_submodule_name_imports_and_placeholders_fail_only_when_used():
    result = subprocess.run([sys.executable, "-c", EVERY_NAME], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    real = set(result.stdout.split())
    assert {"queue.Queue", "functions.gather", "partial_function.web_endpoint",
            "types.FileEntry", "object.Object", "sandbox.Probe"} <= real
    assert "gpu.A100" not in real


def test_modal_submodules_are_ketch_modules_and_modal_exceptions_are_catchable():
    code = (
        "import ketch.modal_alias as a; a.install();"
        "import ketch, modal, modal.queue, modal.volume, modal.experimental.flash;"
        "assert modal.queue is ketch.queue and modal.volume is ketch.volume;"
        "from modal.exception import ExecTimeoutError, SandboxFilesystemPermissionError;"
        "assert issubclass(ExecTimeoutError, TimeoutError);"
        "assert issubclass(SandboxFilesystemPermissionError, ketch.exception.Error);"
        "import modal.gpu; assert not isinstance(1, modal.gpu.A100);"
        "assert modal.Proxy is modal.proxy.Proxy and modal.Client is modal.client.Client;"
        "assert hasattr(modal.gpu.A100, '__doc__') and not hasattr(modal.gpu.A100, '__wrapped__');"
        "print(modal.gpu.__name__, modal.experimental.__path__, sorted(modal.gpu.__all__)[:2])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["modal.gpu", "[]", "['A100',", "'A10G']"]


def test_unknown_modal_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        modal_names.resolve("gpu", "Nope")
