"""Sandbox memory snapshots (Modal's `SandboxSnapshot`): gVisor's checkpoint and restore
under a program run with ``ketch run``; a clear refusal on the namespace runtime."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_runtimes import usable

import ketch
from ketch import exception

PROGRAM = Path(__file__).parent / "compat" / "programs" / "sandbox_snapshot.py"
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(usable("gvisor") is not None or usable("namespace") is not None,
                    reason="needs both sandbox runtimes")
def test_a_restored_sandbox_goes_on_with_the_memory_and_files_of_the_snapshot():
    result = subprocess.run([sys.executable, "-m", "ketch.cli", "run", "-q", str(PROGRAM)],
                            cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "before ['1', '2', '3']", "snapshot id True",
        "restored counts on 4",  # the count was in the snapshotted process's memory
        "restored files written before", "original counts on 4",
        "namespace: memory snapshots need the gvisor runtime (gVisor's runsc checkpoint and "
        "restore)"]


@pytest.mark.skipif(usable("namespace") is not None, reason=str(usable("namespace")))
def test_asking_for_snapshots_on_the_namespace_runtime_is_refused_at_create():
    app = ketch.App.lookup("snapshot-refused", create_if_missing=True)
    with pytest.raises(exception.UnimplementedError, match="need the gvisor runtime"):
        ketch.Sandbox.create("sleep", "5", app=app, runtime="namespace",
                             _experimental_enable_snapshot=True)


def test_snapshot_ids_are_checked():
    with pytest.raises(exception.InvalidError, match="not a sandbox snapshot id"):
        ketch.SandboxSnapshot.from_id("sb-123")
    with pytest.raises(exception.NotFoundError, match="no sandbox snapshot sn-0123456789abcdef"):
        ketch.SandboxSnapshot.from_id("sn-0123456789abcdef").hydrate()
    with pytest.raises(exception.InvalidError, match="takes a SandboxSnapshot"):
        ketch.Sandbox._experimental_from_snapshot("sn-0123456789abcdef")
