"""Volumes keep what containers write, links included, and the control plane writes their
versions as root: nothing a sandbox leaves in a volume, nor any request, makes it write or read
outside the volume (the attacks of a sandbox with a volume and of a token's upload ids)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sandbox_runtimes import RUNTIMES, usable

import ketch
from ketch import client, exception, synchronizer
from ketch.protocol import client as protocol
from ketch.volume import FileEntryType

pytestmark = pytest.mark.skipif(all(usable(r) for r in ("namespace", "gvisor")),
                                reason="no sandbox runtime works here")

INSIDE = "/run/ketch/volumes"  # where a container sees its volume layers


@pytest.fixture(scope="module")
def app() -> ketch.App:
    return ketch.App.lookup("volume-path-tests", create_if_missing=True)


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def in_sandbox(app: ketch.App, runtime: str, volume: ketch.Volume, script: str) -> str:
    sb = ketch.Sandbox.create(app=app, volumes={"/data": volume}, timeout=60, runtime=runtime)
    try:
        p = sb.exec("sh", "-c", script)
        code = p.wait()
        out = p.stdout.read() + p.stderr.read()
        assert code == 0, out
        return out
    finally:
        sb.terminate(wait=True)  # its layer is committed as it ends


def test_a_link_left_in_a_volume_is_never_written_through(app, runtime):
    volume = ketch.Volume.from_name(f"links-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    volume_id = volume.object_id
    target = Path(f"/etc/ketch-attack-{os.getpid()}")
    assert not target.exists()
    in_sandbox(app, runtime, volume, "ln -s /etc /data/d")
    # The next session writes under that name straight into its own layer's upper directory,
    # where the commit finds 'd/…' as if it were a folder of the volume.
    in_sandbox(app, runtime, volume, f"mkdir {INSIDE}/layers/{volume_id}/upper-0/d && "
                            f"echo owned > {INSIDE}/layers/{volume_id}/upper-0/d/{target.name}")
    try:
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)
    entries = {e.path: e.type for e in volume.listdir("/", recursive=True)}
    assert entries["d"] == FileEntryType.DIRECTORY  # the folder replaced the link
    assert b"".join(volume.read_file(f"d/{target.name}")) == b"owned\n"


def test_links_to_host_files_are_copied_as_links(app, runtime):
    volume = ketch.Volume.from_name(f"copies-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    in_sandbox(app, runtime, volume, "ln -s /etc/shadow /data/shadow && mkdir /data/dir && "
                            "ln -s /etc /data/dir/etc")
    volume.copy_files(["shadow"], "copied")
    volume.copy_files(["dir"], "dir2")
    entries = {e.path: e.type for e in volume.listdir("/", recursive=True)}
    assert entries["copied"] == FileEntryType.SYMLINK
    assert entries["dir2/etc"] == FileEntryType.SYMLINK
    assert "dir2/etc/passwd" not in entries
    for path in ("copied", "dir/etc/passwd", "shadow"):
        with pytest.raises(exception.InvalidError):
            b"".join(volume.read_file(path))  # a link is a leaf, not a way to the host's files


def send(request: protocol.Request):
    async def go():
        return await (await client.get_client()).request(request)
    return synchronizer.run(go())


def test_upload_ids_are_only_those_the_service_made(tmp_path):
    volume = ketch.Volume.from_name(f"uploads-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "kept.txt").write_text("mine")
    for upload_id in (str(victim), "../../x", "../volume-uploads/up-0000000000000000",
                      "up-0000000000000000"):
        with pytest.raises(exception.InvalidError, match="not an upload in progress"):
            send(protocol.VolumeUploadCommit(volume_id=volume.object_id, upload_id=upload_id,
                                             force=True))
        with pytest.raises(exception.InvalidError, match="not an upload in progress"):
            send(protocol.VolumeUpload(volume_id=volume.object_id, path="f.txt", offset=0,
                                       data=b"x", upload_id=upload_id))
    assert (victim / "kept.txt").read_text() == "mine"
    assert volume.listdir("/") == []
    other = ketch.Volume.from_name(f"uploads-{uuid.uuid4().hex[:8]}", create_if_missing=True)
    upload_id = send(protocol.VolumeUpload(volume_id=other.object_id, path="f.txt", offset=0,
                                           data=b"x")).upload_id
    with pytest.raises(exception.InvalidError, match="not an upload in progress"):
        send(protocol.VolumeUploadCommit(volume_id=volume.object_id, upload_id=upload_id,
                                         force=True))  # another volume's
    send(protocol.VolumeUploadCommit(volume_id=other.object_id, upload_id=upload_id, force=True))
    assert b"".join(other.read_file("f.txt")) == b"x"
    with pytest.raises(exception.InvalidError, match="outside the volume"):
        send(protocol.VolumeUpload(volume_id=other.object_id, path="../../secret.key", offset=0,
                                   data=b"x"))
