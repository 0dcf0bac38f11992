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
