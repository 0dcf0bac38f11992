"""``ketch image list`` and ``ketch image prune`` on a real layer cache."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import registry

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


@pytest.mark.skipif(bool(registry.missing_binaries("docker-registry", "skopeo")),
                    reason="needs docker-registry and skopeo (./dev.sh test installs them)")
def test_pull_lists_and_prunes_pulled_layers(tmp_path):
    with registry.start_registry(tmp_path / "registry") as reg:
        registry.push_image(reg, "tool", "v1", [registry.layer({"a": "1"}),
                                                registry.layer({"b": "2"})])
        pulled = ketch_cli(tmp_path, "image", "pull", reg.ref("tool", "v1"))
        assert pulled.returncode == 0, pulled.stderr
        assert "2 layers" in pulled.stdout and "sha256:" in pulled.stdout
        again = ketch_cli(tmp_path, "image", "pull", reg.ref("tool", "v1"))
        assert "pulled" not in again.stdout.replace("2 layers", "")  # nothing downloaded
        missing = ketch_cli(tmp_path, "image", "pull", reg.ref("tool", "nope"))
        assert missing.returncode != 0 and "does not exist" in missing.stderr
    listed = json.loads(ketch_cli(tmp_path, "image", "list", "--json").stdout)
    assert sorted(layer["kind"] for layer in listed) == ["pulled", "pulled", "ref"]
    table = ketch_cli(tmp_path, "image", "list").stdout
    assert "pulled" in table and "image" in table
    assert "removed 3 layers" in ketch_cli(tmp_path, "image", "prune", "--all").stdout
