"""`FilePatternMatcher`: which files an ``ignore=`` leaves out, by .dockerignore's rules.

Example::

    matcher = ketch.FilePatternMatcher("**/__pycache__", "*.log", "!keep.log")
    matcher(Path("pkg/__pycache__/m.pyc"))   # True: ignored
    matcher(Path("keep.log"))                # False: the later "!" pattern keeps it
    image.add_local_dir("./src", "/root/src", ignore=~ketch.FilePatternMatcher("**/*.py"))

As in Docker (and Modal): a pattern is relative to the folder being added; ``*`` and ``?``
stay within one path segment, ``**`` spans any number of them, ``[...]`` is a class; a pattern
that names a folder ignores everything in it; the last pattern that matches decides, a
leading ``!`` keeping what earlier ones ignored. ``~matcher`` ignores what ``matcher`` keeps.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path


def _regex(pattern: str) -> re.Pattern[str]:
    """A pattern as a regular expression over a /-separated relative path."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):  # "**/" : any number of folders, none included
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise ValueError(f"the pattern {pattern!r} has a [ with no ]")
            body = pattern[i + 1:end]
            negate = body[:1] in ("^", "!")
            body = re.sub(r"([\\\]])", r"\\\1", body[1:] if negate else body)
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


class FilePatternMatcher:
    """Called with a path relative to the added folder: True if the patterns ignore it."""

    def __init__(self, *pattern: str) -> None:
        self._strings: list[str] | None = list(pattern)
        self._file: str | None = None
        self._compiled: list[tuple[bool, re.Pattern[str]]] | None = None

    @classmethod
    def from_file(cls, file_path: str | Path) -> FilePatternMatcher:
        """The patterns of an ignore file (one a line; ``#`` comments), read at first use."""
        matcher = cls()
        matcher._strings, matcher._file = None, str(file_path)
        return matcher

    @property
    def patterns(self) -> list[str]:
        """The patterns, as given or as the file holds them."""
        if self._strings is None:
            assert self._file is not None
            with open(self._file) as f:
                self._strings = [line.strip() for line in f
                                 if line.strip() and not line.lstrip().startswith("#")]
        return list(self._strings)

    def _rules(self) -> list[tuple[bool, re.Pattern[str]]]:
        if self._compiled is None:
            rules = []
            for text in self.patterns:
                text = text.strip()
                keep = text.startswith("!")
                text = text[1:].strip() if keep else text
                text = os.path.normpath(text.strip("/")) if text.strip("/") else ""
                if keep and not text:
                    raise ValueError('"!" alone is not a pattern: write !path to keep a path')
                if text:
                    rules.append((keep, _regex(text)))
            self._compiled = rules
        return self._compiled

    def can_prune_directories(self) -> bool:
        """Whether an ignored folder may be skipped whole (no ``!`` pattern could keep a file
        inside it)."""
        return not any(keep for keep, _ in self._rules())

    def __call__(self, path: Path | str) -> bool:
        relative = os.path.normpath(str(path)).replace(os.sep, "/")
        if relative in (".", ""):
            return False
        parts = relative.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        ignored = False
        for keep, rule in self._rules():
            if keep == ignored and any(rule.match(prefix) for prefix in prefixes):
                ignored = not keep
        return ignored

    def __invert__(self) -> _Predicate:
        inverted = None  # as patterns, when they say it: all of it, but what these match
        if self.can_prune_directories():
            inverted = ["**", *(f"!{text.strip()}" for text in self.patterns if text.strip())]
        return _Predicate(lambda path: not self(path), inverted)

    def __repr__(self) -> str:
        source = f"from_file({self._file!r})" if self._file else ", ".join(map(repr, self.patterns))
        return f"FilePatternMatcher({source})"


class _Predicate(FilePatternMatcher):
    """A matcher by a function of the path (an inverted matcher, for one)."""

    def __init__(self, predicate: Callable[[Path], bool],
                 patterns: list[str] | None = None) -> None:
        super().__init__()
        self._predicate = predicate
        self._strings = patterns

    def can_prune_directories(self) -> bool:
        return False

    def __call__(self, path: Path | str) -> bool:
        return bool(self._predicate(Path(path)))

    def __invert__(self) -> _Predicate:
        return _Predicate(lambda path: not self(path))

    def __repr__(self) -> str:
        return "FilePatternMatcher(<a function of the path>)"


Ignore = Sequence[str] | Callable[[Path], bool]
NON_PYTHON_FILES = ~FilePatternMatcher("**/*.py")


def patterns_of(ignore: Ignore, local: str) -> list[str]:
    """``ignore=`` as the patterns a build step carries (the worker matches them again): a
    matcher's own, or, for a function of the path, one exact pattern for each file under
    ``local`` that it ignores now."""
    if isinstance(ignore, (list, tuple)):
        if not all(isinstance(p, str) for p in ignore):
            raise TypeError("ignore= takes a list of patterns (str) or a function of the path")
        FilePatternMatcher(*ignore)._rules()  # a bad pattern fails here, not in the worker
        return list(ignore)
    if isinstance(ignore, FilePatternMatcher) and (not isinstance(ignore, _Predicate)
                                                   or ignore._strings is not None):
        return ignore.patterns
    if not callable(ignore):
        raise TypeError(f"ignore= takes patterns or a function of the path, not {ignore!r}")
    found = []
    for folder, _, files in os.walk(local):
        for name in files:
            relative = os.path.relpath(os.path.join(folder, name), local)
            if ignore(Path(relative)):
                found.append("/" + re.sub(r"([*?\[\]\\])", r"\\\1", relative))
    return sorted(found)


def kept_files(local: str, patterns: list[str], root: str | None = None) -> list[str]:
    """Relative paths of the files under ``local`` that ``patterns`` keep, each matched by
    its path relative to ``root`` (default: ``local``), as a .dockerignore at ``root`` would."""
    if os.path.isfile(local):
        return [""]
    matcher = FilePatternMatcher(*patterns)
    base = os.path.relpath(local, root) if root else "."
    prune = matcher.can_prune_directories()
    found = []
    for directory, subdirs, files in os.walk(local):
        rel_dir = os.path.relpath(directory, local)
        if prune:  # nothing inside an ignored folder can be kept: skip it whole
            subdirs[:] = [d for d in subdirs if not matcher(os.path.join(base, rel_dir, d))]
        for name in files:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if not matcher(os.path.join(base, rel)):
                found.append(rel)
    return sorted(found)
