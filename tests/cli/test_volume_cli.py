"""``ketch volume``, as a person uses it."""

from __future__ import annotations

import json
import subprocess
import sys


def ketch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ketch.cli", "volume", *args],
                          capture_output=True, text=True, timeout=60)


def test_volume_commands(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    assert ketch("create", "cli-vol").returncode == 0
    assert "already exists" in ketch("create", "cli-vol").stderr
    assert ketch("put", "cli-vol", str(tmp_path / "a.txt"), "/docs/").returncode == 0
    listed = json.loads(ketch("ls", "cli-vol", "/docs", "--json").stdout)
    assert [(e["path"], e["type"], e["size"]) for e in listed] == [("docs/a.txt", "file", 5)]
    assert ketch("get", "cli-vol", "/docs/a.txt", "-").stdout == "alpha"
    assert ketch("cp", "cli-vol", "/docs/a.txt", "/b.txt").returncode == 0
    assert ketch("get", "cli-vol", "/b.txt", str(tmp_path)).returncode == 0
    assert (tmp_path / "b.txt").read_text() == "alpha"
    assert ketch("rm", "cli-vol", "/docs", "-r").returncode == 0
    assert ketch("rename", "cli-vol", "cli-vol-2").returncode == 0
    names = [v["name"] for v in json.loads(ketch("list", "--json").stdout)]
    assert "cli-vol-2" in names and "cli-vol" not in names
    assert ketch("delete", "cli-vol-2", "--yes").returncode == 0
    assert "no volume named" in ketch("ls", "cli-vol-2").stderr
