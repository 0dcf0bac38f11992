from __future__ import annotations

import pytest

from .server_process import ServerProcess


@pytest.fixture
def server(tmp_path):
    """A real ``ketch server`` subprocess with its own KETCH_HOME."""
    process = ServerProcess(tmp_path)
    process.start()
    yield process
    process.stop()
