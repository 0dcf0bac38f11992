"""FilePatternMatcher: .dockerignore's rules, as Docker and Modal apply them."""

from __future__ import annotations

from pathlib import Path

import pytest

import ketch
from ketch.file_pattern_matcher import NON_PYTHON_FILES, kept_files, patterns_of

M = ketch.FilePatternMatcher


@pytest.mark.parametrize(("patterns", "path", "ignored"), [
    (["*.log"], "a.log", True),
    (["*.log"], "sub/a.log", False),  # anchored at the top, as in Docker
    (["**/*.log"], "sub/deep/a.log", True),
    (["**/*.log"], "a.log", True),  # **/ may be no folder at all
    (["build"], "build/out/x", True),  # a folder's pattern takes in all it holds
    (["build"], "pkg/build/x", False),
    (["a/**"], "a/b/c", True),
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),  # ? never matches a separator
    (["[a-c].txt"], "b.txt", True),
    (["[^a-c].txt"], "b.txt", False),
    (["*.log", "!keep.log"], "keep.log", False),  # the last match decides
    (["*.log", "!keep.log", "keep*"], "keep.log", True),
    (["/top/"], "top/x", True),  # leading and trailing slashes do not matter
    (["\\*.txt"], "*.txt", True),
    (["\\*.txt"], "a.txt", False),
    (["*"], ".", False),  # the folder itself is never ignored
])
def test_patterns(patterns, path, ignored):
    assert M(*patterns)(Path(path)) is ignored


def test_inverted_matchers_and_files(tmp_path):
    assert (~M("**/*.py"))(Path("data.json")) and not (~M("**/*.py"))(Path("pkg/m.py"))
    assert NON_PYTHON_FILES(Path("pkg/x.txt")) and not NON_PYTHON_FILES(Path("m.py"))
    (tmp_path / ".ignore").write_text("# comment\n*.tmp\n\n!keep.tmp\n")
    matcher = M.from_file(tmp_path / ".ignore")
    assert matcher.patterns == ["*.tmp", "!keep.tmp"] and not matcher.can_prune_directories()
    assert matcher(Path("a.tmp")) and not matcher(Path("keep.tmp"))
    with pytest.raises(ValueError, match="not a pattern"):
        M("!")(Path("x"))


def test_ignore_as_patterns_for_the_worker(tmp_path):
    for name in ("m.py", "pkg/n.py", "pkg/data.json", "odd[1].txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    assert patterns_of(["*.json"], str(tmp_path)) == ["*.json"]
    assert patterns_of(NON_PYTHON_FILES, str(tmp_path)) == ["**", "!**/*.py"]
    by_function = patterns_of(lambda path: path.suffix != ".py", str(tmp_path))
    assert kept_files(str(tmp_path), by_function) == ["m.py", "pkg/n.py"]
    assert kept_files(str(tmp_path), patterns_of(NON_PYTHON_FILES, str(tmp_path))) == [
        "m.py", "pkg/n.py"]
    assert kept_files(str(tmp_path / "pkg"), ["pkg/*.json"], root=str(tmp_path)) == ["n.py"]


def test_a_bad_ignore_is_refused_at_decoration(tmp_path):
    with pytest.raises(ketch.exception.InvalidError, match="ignore="):
        ketch.Image.debian_slim().add_local_dir(str(tmp_path), "/d", ignore=[1])
    with pytest.raises(ketch.exception.InvalidError, match=r"has a \[ with no \]"):
        ketch.Image.debian_slim().add_local_dir(str(tmp_path), "/d", ignore=["[abc"])
