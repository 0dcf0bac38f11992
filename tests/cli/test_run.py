"""``ketch run`` and ``ketch python`` as a user runs them: real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "tests" / "apps"


def ketch(*args: str, cwd: Path = ROOT, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("KETCH_SERVER", None)
    return subprocess.run(
        [sys.executable, "-m", "ketch.cli", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=timeout,
    )


def test_hello_example_prints_results_and_prefixed_container_output():
    result = ketch("run", "examples/hello.py")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "9 16 2646700" in lines
    assert "working on 3" in lines  # square.local prints here, unprefixed
    prefixed = [line for line in lines if line.startswith("[square ")]
    assert len(prefixed) == 201  # .remote(4) and 200 map inputs
    assert any(line.endswith("] working on 199") for line in prefixed)


def test_entrypoint_parameters_become_options_and_quiet_hides_output():
    result = ketch("run", "examples/hello.py", "--n", "10", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["working on 3", "9 16 285"]


def test_module_forms_and_typed_options():
    for args in (["-m", "apps.pkg.tool"], ["apps.pkg.tool"], ["apps/pkg/tool.py"]):
        result = ketch("run", *args, "--word", "yo", "--times", "3", "--loud", "--ratio", "2.5",
                       cwd=ROOT / "tests")
        assert result.returncode == 0, (args, result.stderr)
        assert "result YOYOYO True 2.5" in result.stdout
        assert "shouting yo" in result.stdout


def test_named_function_and_lone_function():
    result = ketch("run", "tests/apps/pkg/tool.py::shout", "--word", "x")
    assert result.returncode == 0, result.stderr
    assert "shouting x" in result.stdout
    result = ketch("run", "tests/apps/lone.py", "--n", "5")
    assert result.returncode == 0, result.stderr
    assert "only ran with 5" in result.stdout


def test_unknown_entrypoint_names_the_choices():
    result = ketch("run", "examples/hello.py::nope")
    assert result.returncode != 0
    assert "nothing named 'nope'" in result.stderr and "main" in result.stderr


def test_file_that_does_not_import():
    result = ketch("run", "tests/apps/broken_import.py")
    assert result.returncode != 0
    assert "failed to import" in result.stderr and "broken on purpose" in result.stderr
    missing = ketch("run", "tests/apps/missing.py")
    assert missing.returncode != 0 and "is not a file" in missing.stderr


def test_ketch_python_runs_a_modal_program_unchanged():
    result = ketch("python", "tests/apps/modal_program.py")
    assert result.returncode == 0, result.stderr
    assert "double (42, False)" in result.stdout
    assert "caught invalid" in result.stdout
