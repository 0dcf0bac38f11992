"""Every test runs against real processes: an embedded control plane in the pytest process,
real container agents as child processes. State lives in a temporary KETCH_HOME."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
os.environ["KETCH_HOME"] = tempfile.mkdtemp(prefix="ketch-test-home-")
os.environ.pop("KETCH_SERVER", None)
# This machine has no GPU: the node's GPU inventory is substituted at the NVML boundary (and
# only there) so that GPU placement runs for real.
os.environ["KETCH_FAKE_GPUS"] = "A10:1,H100:2"


@pytest.fixture
def tests_dir() -> Path:
    return TESTS


@pytest.fixture
def server(tmp_path):
    """A real ``ketch server`` subprocess with its own KETCH_HOME."""
    from server.server_process import ServerProcess

    process = ServerProcess(tmp_path)
    process.start()
    yield process
    process.stop()


@pytest.fixture
def images_config():
    """Set ``[images]`` of KETCH_HOME/config.toml for one test: ``images_config(offline=True,
    insecure_registries=[...])``; the file is put back as it was afterwards."""
    path = Path(os.environ["KETCH_HOME"]) / "config.toml"
    before = path.read_text() if path.exists() else None

    def write(**settings: object) -> None:
        lines = ["[images]"] + [f"{key} = {_toml(value)}" for key, value in settings.items()]
        path.write_text("\n".join(lines) + "\n")

    yield write
    if before is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(before)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
