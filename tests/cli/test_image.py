"""``ketch image list`` and ``ketch image prune`` on a real layer cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

import ketch
from ketch.backends.namespace import NamespaceDriver
from ketch.worker.images import Builder


def ketch_cli(home, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KETCH_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "ketch.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(NamespaceDriver(ketch.config.home(), masks=[]).fingerprint() is not None,
                    reason="building images needs namespaces")
def test_list_and_prune(tmp_path):
    image = ketch.Image.debian_slim().run_commands("echo x > /opt/x")
    asyncio.run(Builder(tmp_path / "images").build(image.to_wire(), lambda line: None))
    listed = json.loads(ketch_cli(tmp_path, "image", "list", "--json").stdout)
    assert [layer["kind"] for layer in listed] == ["base", "run"]
    assert "removed 0 layers" in ketch_cli(tmp_path, "image", "prune").stdout
    assert "removed 2 layers" in ketch_cli(tmp_path, "image", "prune", "--all").stdout
    assert json.loads(ketch_cli(tmp_path, "image", "list", "--json").stdout) == []
