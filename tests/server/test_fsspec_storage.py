"""Volume versions in an fsspec store: what one machine commits, another machine reads."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from ketch import exception
from ketch.server.volume_tree import Tree, link_file

fsspec = pytest.importorskip("fsspec", reason="volumes at a URL need fsspec: pip install fsspec")
from ketch.server.fsspec_storage import FsspecVolumeStorage  # noqa: E402


def write(path: str, text: str, mode: int = 0o644):
    def apply(tree: Path) -> None:
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).unlink(missing_ok=True)  # as VolumeService does: never write through a link
        (tree / path).write_text(text)
        os.chmod(tree / path, mode)
    return apply


@pytest.fixture(params=["memory", "file"])
def url(request, tmp_path) -> str:
    if request.param == "memory":
        return f"memory://ketch-{uuid.uuid4().hex}"
    return f"file://{tmp_path / 'store'}"


def test_versions_committed_here_are_read_elsewhere(url, tmp_path):
    here = FsspecVolumeStorage(url, tmp_path / "here")
    here.create("vo-1")
    assert here.new_version("vo-1", write("a/one.txt", "1")) == 1
    assert here.new_version("vo-1", write("run.sh", "#!/bin/sh", 0o755)) == 2

    def change(tree: Path) -> None:
        (tree / "empty").mkdir()
        os.symlink("a/one.txt", tree / "link")
        (tree / "a" / "one.txt").unlink()
        (tree / "a" / "two.txt").write_text("2")

    assert here.new_version("vo-1", change) == 3
    elsewhere = FsspecVolumeStorage(url, tmp_path / "elsewhere")  # another machine's cache
    number, tree = elsewhere.latest("vo-1")
    assert number == 3
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*")) == [
        "a", "a/two.txt", "empty", "link", "run.sh"]
    assert os.readlink(tree / "link") == "a/one.txt"
    assert os.stat(tree / "run.sh").st_mode & 0o777 == 0o755
    assert (tree / "a" / "two.txt").read_text() == "2"


def test_an_unchanged_file_is_stored_once(url, tmp_path):
    storage = FsspecVolumeStorage(url, tmp_path / "cache")
    storage.new_version("vo-2", write("big.bin", "x" * 10_000))
    for n in range(3):
        storage.new_version("vo-2", write(f"small-{n}.txt", str(n)))
    blobs = storage.fs.ls(storage._remote("vo-2", "blobs"))
    assert len(blobs) == 4  # big.bin once, and one per small file


def test_a_failed_change_makes_no_version(url, tmp_path):
    storage = FsspecVolumeStorage(url, tmp_path / "cache")
    storage.new_version("vo-3", write("keep.txt", "kept"))

    def fails(tree: Path) -> None:
        with Tree(tree) as version, version.directory([]) as root:
            link_file(root, "copy.txt", root, "keep.txt")
        raise exception.ConflictError("no")

    with pytest.raises(exception.ConflictError):
        storage.new_version("vo-3", fails)
    number, tree = FsspecVolumeStorage(url, tmp_path / "other").latest("vo-3")
    assert number == 1 and sorted(os.listdir(tree)) == ["keep.txt"]


def test_old_cached_versions_are_forgotten_and_drop_removes_all(url, tmp_path):
    storage = FsspecVolumeStorage(url, tmp_path / "cache")
    for n in range(6):
        storage.new_version("vo-4", write("f.txt", str(n)))
    kept = sorted(int(v) for v in os.listdir(storage.versions_dir("vo-4")))
    assert kept == [3, 4, 5, 6]  # the latest, and three for containers that mount them
    assert len(os.listdir(tmp_path / "cache" / "vo-4" / "blobs")) == len(kept)
    storage.drop("vo-4")
    assert not storage.fs.exists(storage._remote("vo-4"))
    assert storage.latest("vo-4")[0] == 0  # a fresh, empty volume


def test_a_url_without_its_file_system_says_what_to_install(tmp_path):
    with pytest.raises(exception.InvalidError, match="cannot be opened"):
        FsspecVolumeStorage("nosuchfs://bucket/x", tmp_path)
