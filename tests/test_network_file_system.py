"""NetworkFileSystem: a folder shared read-write by containers, writes seen at once."""

from __future__ import annotations

import io

import pytest

import ketch
from ketch import config, exception
from ketch.backends.namespace import NamespaceDriver

from apps import shared_fs

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()


@pytest.mark.skipif(problem is not None, reason=f"mounts need namespaces: {problem}")
def test_two_containers_see_each_others_writes_at_once_and_so_does_the_sdk():
    with shared_fs.app.run():
        first = shared_fs.write_then_wait.spawn("a.txt", "b.txt")
        second = shared_fs.write_then_wait.spawn("b.txt", "a.txt")
        assert (first.get(timeout=60), second.get(timeout=60)) == ("from b.txt", "from a.txt")
    names = sorted(entry.path for entry in shared_fs.shared.listdir("/"))
    assert names == ["a.txt", "b.txt"]
    assert b"".join(shared_fs.shared.read_file("a.txt")) == b"from a.txt"


def test_files_are_written_read_listed_and_removed_from_anywhere(tmp_path):
    with ketch.NetworkFileSystem.ephemeral() as nfs:
        assert nfs.write_file("/dir/x.bin", io.BytesIO(b"\x00\x01")) == 2
        (tmp_path / "local").mkdir()
        (tmp_path / "local" / "y.txt").write_text("y")
        nfs.add_local_dir(str(tmp_path / "local"), "/copied")
        listed = {entry.path: entry.type for entry in nfs.listdir("/", recursive=True)}
        assert listed["dir/x.bin"] == ketch.volume.FileEntryType.FILE and "copied/y.txt" in listed
        assert b"".join(nfs.read_file("dir/x.bin")) == b"\x00\x01"
        with pytest.raises(exception.InvalidError, match="recursive=True"):
            nfs.remove_file("/dir")
        nfs.remove_file("/dir", recursive=True)
        assert "dir" not in {entry.path for entry in nfs.listdir("/")}
        with pytest.raises(exception.InvalidError, match="'..'"):
            nfs.write_file("../escape", io.BytesIO(b"x"))
        with pytest.raises(exception.NotFoundError):
            b"".join(nfs.read_file("missing"))


def test_mounting_needs_the_namespace_runtime():
    with pytest.raises(exception.InvalidError, match="network file systems, which need"):
        with shared_fs.wrong_app.run():
            pass
