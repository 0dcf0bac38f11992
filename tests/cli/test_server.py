"""``ketch server`` refuses a backend it cannot use, saying what to do."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


def serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    return subprocess.run(
        [sys.executable, "-m", "ketch.cli", "server", "--port", "0", "--gateway-port", "0", *args],
        env={**os.environ, "KETCH_HOME": str(home), **env}, capture_output=True, text=True,
        timeout=60)


def test_the_ray_backend_without_ray_says_what_to_install(tmp_path):
    shadow = tmp_path / "no-ray"
    shadow.mkdir()
    (shadow / "ray.py").write_text("raise ImportError('not installed')\n")
    result = serve(tmp_path, "--backend", "ray", PYTHONPATH=str(shadow))
    assert result.returncode != 0
    assert "the ray backend needs Ray: pip install 'ketch[ray]'" in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs Ray installed")
def test_an_unreachable_ray_cluster_is_named_at_once(tmp_path):
    result = serve(tmp_path, "--backend", "ray", "--ray-address", "127.0.0.1:1")
    assert result.returncode != 0
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in result.stderr
    assert "--ray-address HOST:6379" in result.stderr


def test_an_unknown_backend_in_the_config_is_refused(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text('backend = "slurm"\n')
    result = serve(tmp_path)
    assert result.returncode != 0
    assert "unknown backend 'slurm': use local or ray" in result.stderr
