"""Another user of the machine reads nothing of a control plane's state: its folder is its
owner's alone and its database, WAL and blobs are 0600 (checked as a second local user)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from .server_process import ServerProcess

NOBODY = 65534
# What a second local user tries: list the state folder, read the database and a volume file
# (with /bin/sh: this test's interpreter may live where that user cannot reach it).
PEEK = """
for what in "ls $1" "cat $1/ketch.db" "ls $1/volumes"; do
    if $what >/dev/null 2>&1; then echo read; else echo denied; fi
done
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to a second user needs root")
def test_a_second_local_user_reads_none_of_the_state():
    directory = Path(tempfile.mkdtemp(prefix="ketch-perm-"))
    os.chmod(directory, 0o755)  # as a home's parent usually is: others may pass through
    server = ServerProcess(directory)
    server.start()
    try:
        server.client(
            "import ketch\n"
            "d = ketch.Dict.from_name('perm', create_if_missing=True)\n"
            "d['k'] = b'x' * 100\n"
            "v = ketch.Volume.from_name('perm', create_if_missing=True)\n"
            "with v.batch_upload() as b:\n"
            "    import io; b.put_file(io.BytesIO(b'private'), '/f.txt')\n")
        home = server.home
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        for name in ("ketch.db", "ketch.db-wal", "secret.key"):
            if (home / name).exists():
                assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
        assert stat.S_IMODE((home / "blobs").stat().st_mode) == 0o700
        peek = subprocess.run(["/bin/sh", "-c", PEEK, "peek", str(home)], user=NOBODY,
                              group=NOBODY, capture_output=True, text=True, timeout=60, cwd="/")
        assert peek.stdout.split() == ["denied"] * 3, peek.stdout + peek.stderr
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
