"""Volumes: versions committed by containers, reloaded by others, read and written from outside."""

from __future__ import annotations

import io
import uuid

import pytest

import ketch
from ketch import config, exception
from ketch.backends.namespace import NamespaceDriver

from apps import volumes

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
needs_namespaces = pytest.mark.skipif(problem is not None, reason=f"mounts need: {problem}")


@needs_namespaces
def test_committed_writes_reach_another_container_after_reload():
    with volumes.app.run():
        assert volumes.read.remote("a.txt", reload=False) == (None, None)  # reader is warm
        assert "a.txt" in volumes.write.remote("a.txt", "first")
        before, after = volumes.read.remote("a.txt")
        assert (before, after) == (None, "first")  # its view changed only on reload
        volumes.write.remote("a.txt", "second")  # last write wins
        assert volumes.read.remote("a.txt") == ("first", "second")
        message = volumes.reload_with_open_file.remote("a.txt")
        assert "while files under it are open" in message


@needs_namespaces
def test_a_container_commits_what_it_changed_when_it_exits():
    with volumes.app.run():
        volumes.write.remote("exit.txt", "kept", commit=False)
    assert b"".join(volumes.vol.read_file("exit.txt")) == b"kept"


@needs_namespaces
def test_a_volume_handle_passed_as_an_argument_works_inside():
    volumes.vol.hydrate()
    with volumes.app.run():
        volumes.write.remote("arg.txt", "x")
        assert "arg.txt" in volumes.list_through_handle.remote(volumes.vol)


@needs_namespaces
def test_a_layer_swapped_for_a_link_commits_nothing_of_the_host():
    with volumes.app.run():
        answer = volumes.commit_through_swapped_layer.remote("/etc")
    assert "is a link or a file, not a folder" in answer
    paths = {e.path for e in volumes.vol.listdir("/", recursive=True)}
    assert "passwd" not in paths and "shadow" not in paths

def test_files_from_outside_containers(tmp_path):
    with ketch.Volume.ephemeral() as vol:
        (tmp_path / "dir").mkdir()
        (tmp_path / "dir" / "one.txt").write_text("1")
        (tmp_path / "big.bin").write_bytes(b"z" * (9 * 2**20))
        with vol.batch_upload() as batch:
            batch.put_directory(str(tmp_path / "dir"), "/docs")
            batch.put_file(str(tmp_path / "big.bin"), "/big.bin")
        assert sorted(e.path for e in vol.listdir("/", recursive=True)) == [
            "big.bin", "docs", "docs/one.txt"]
        buffer = io.BytesIO()
        assert vol.read_file_into_fileobj("big.bin", buffer) == 9 * 2**20
        with pytest.raises(exception.ConflictError, match="already exists"):
            with vol.batch_upload() as batch:
                batch.put_file(str(tmp_path / "big.bin"), "/big.bin")
        vol.copy_files(["docs/one.txt"], "two.txt")
        assert b"".join(vol.read_file("two.txt")) == b"1"
        vol.remove_file("docs", recursive=True)
        assert sorted(e.path for e in vol.listdir("/")) == ["big.bin", "two.txt"]
        with pytest.raises(exception.InvalidError, match="outside the volume"):
            vol.listdir("../..")
        with pytest.raises(exception.InvalidError, match="inside a container"):
            vol.commit()


def test_mounting_needs_the_namespace_runtime():
    with pytest.raises(exception.InvalidError, match="need the namespace runtime"):
        with volumes.wrong_app.run():
            pass


def test_bad_mounts_are_refused_at_decoration():
    app = ketch.App("bad-volumes")
    with pytest.raises(exception.InvalidError, match="must be a ketch.Volume"):
        app.function(volumes={"/data": "name"})
    with pytest.raises(exception.InvalidError, match="reserved"):
        app.function(volumes={"/proc/x": volumes.vol})


def test_from_name_takes_modal_volume_format_version():
    name = f"v2-{uuid.uuid4().hex[:8]}"
    vol = ketch.Volume.from_name(name, create_if_missing=True, version=2)
    with vol.batch_upload() as batch:
        batch.put_file(io.BytesIO(b"weights"), "/w.bin")
    assert b"".join(ketch.Volume.from_name(name, version=1).read_file("/w.bin")) == b"weights"
    with pytest.raises(exception.InvalidError, match="1 or 2"):
        ketch.Volume.from_name(name, version=3)
