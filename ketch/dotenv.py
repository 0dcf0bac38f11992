"""``.env`` files, read for `ketch.Secret.from_dotenv` and ``ketch secret create --from-dotenv``.

The format python-dotenv reads, less variable expansion (values are taken as written)::

    # a comment
    export TOKEN=abc123          # "export " is allowed; so is a comment after a space
    GREETING="hello\\nworld"     # double quotes: \\n \\t \\r \\" \\\\ are escapes
    RAW='C:\\path #not a comment'  # single quotes: taken as written
    KEY="-----BEGIN KEY-----
    spans lines"                 # quoted values may span lines
    FLAG                         # a name alone sets nothing

Errors name the file and the line, never a value.
"""

from __future__ import annotations

import os
import re

from . import exception

KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # what a secret accepts as a key
INLINE_COMMENT = re.compile(r"\s#")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def find_dotenv(starts: list[str], filename: str, *, walk_first: bool) -> str | None:
    """The first ``filename`` found: in each start directory (a start that is a file means its
    directory), and, for the first start when ``walk_first`` and for the last one always, in
    the directories above it too (as python-dotenv's ``find_dotenv`` walks from the cwd)."""
    for position, start in enumerate(starts):
        directory = os.path.abspath(start)
        if os.path.isfile(directory):
            directory = os.path.dirname(directory)
        walk = position == len(starts) - 1 or (position == 0 and walk_first)
        while True:
            candidate = os.path.join(directory, filename)
            if os.path.isfile(candidate):
                return candidate
            parent = os.path.dirname(directory)
            if not walk or parent == directory:
                break
            directory = parent
    return None


def read_dotenv(path: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise exception.InvalidError(f"cannot read {path}: {exc}") from exc
    return parse_dotenv(text, path)


def parse_dotenv(text: str, source: str = ".env") -> dict[str, str]:
    """The variables ``text`` sets, in order (a later line wins).

    Example::

        parse_dotenv('export A=1\\nB="two words" # note\\n')   # {"A": "1", "B": "two words"}
    """
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i].lstrip()
        i += 1
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[7:].lstrip()
        key, eq, rest = line.partition("=")
        key = key.strip()
        if not KEY_RE.match(key):
            raise exception.InvalidError(
                f"{source}, line {number}: expected KEY=VALUE, with a KEY of letters, digits "
                "and underscores"
            )
        if not eq:
            continue  # a name alone: python-dotenv gives it no value, and Modal skips it
        rest = rest.lstrip()
        if rest[:1] not in ("'", '"'):
            values[key] = INLINE_COMMENT.split(rest, maxsplit=1)[0].strip()
            continue
        quote, body = rest[0], rest[1:]
        end = _closing(body, quote)
        while end < 0:
            if i >= len(lines):
                raise exception.InvalidError(
                    f"{source}, line {number}: the quoted value of {key} is never closed"
                )
            body += "\n" + lines[i]
            i += 1
            end = _closing(body, quote)
        tail = body[end + 1:].strip()
        if tail and not tail.startswith("#"):
            raise exception.InvalidError(
                f"{source}, line {number}: unexpected text after the quoted value of {key}"
            )
        value = body[:end]
        values[key] = _unescape(value) if quote == '"' else value
    return values


def _closing(body: str, quote: str) -> int:
    """Where the closing ``quote`` is in ``body`` (-1: not yet); a backslash escapes a double
    quote."""
    if quote == "'":
        return body.find("'")
    i = 0
    while i < len(body):
        if body[i] == "\\":
            i += 2
            continue
        if body[i] == '"':
            return i
        i += 1
    return -1


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: ESCAPES.get(m[1], m[0]), value, flags=re.DOTALL)
