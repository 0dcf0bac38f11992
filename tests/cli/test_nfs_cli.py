"""``ketch nfs``, as a person uses it."""

from __future__ import annotations

import json
import subprocess
import sys


def ketch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketch.cli", "nfs", *args],
                          capture_output=True, text=True, timeout=60)


def test_nfs_commands(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    assert ketch("create", "cli-nfs").returncode == 0
    assert "already exists" in ketch("create", "cli-nfs").stderr
    assert ketch("put", "cli-nfs", str(tmp_path / "a.txt"), "/docs/").returncode == 0
    listed = json.loads(ketch("ls", "cli-nfs", "/docs", "--json").stdout)
    assert [(e["path"], e["type"], e["size"]) for e in listed] == [("docs/a.txt", "file", 5)]
    assert ketch("get", "cli-nfs", "/docs/a.txt").stdout == "alpha"
    assert ketch("get", "cli-nfs", "/docs/a.txt", str(tmp_path / "b.txt")).returncode == 0
    assert (tmp_path / "b.txt").read_text() == "alpha"
    assert ketch("rm", "cli-nfs", "/docs", "-r").returncode == 0
    assert "cli-nfs" in [v["name"] for v in json.loads(ketch("list", "--json").stdout)]
    assert ketch("delete", "cli-nfs", "--yes").returncode == 0
    assert "no nfs named" in ketch("ls", "cli-nfs").stderr
