"""Dockerfile instructions → ketch image build steps (``Image.from_dockerfile``,
``Image.dockerfile_commands``).

Example::

    steps = steps_from_dockerfile("./Dockerfile", context_dir=None, build_args={"PY": "3.12"})
    # ARG PY=3.11
    # FROM python:${PY}-slim          → {"kind": "registry", "ref": "python:3.12-slim", ...}
    # ENV PATH=/opt/tools/bin:$PATH   → {"kind": "env", "vars": {"PATH": "/opt/tools/bin:$PATH"},
    #                                    "expand": True, ...}
    # COPY app/ /app/                 → {"kind": "copy_dir", "local": "<context>/app",
    #                                    "remote": "/app", "ignore": [...], ...}

dockerfile-parse splits the text into instructions (line continuations, comments, the escape
directive) and words (quotes kept); this module gives each instruction Docker's meaning, or
refuses it with an ``InvalidError`` that names the line, why, and the fix.

Variables: dockerfile-parse's own substitution replaces a variable it does not know with
nothing, which would turn ``ENV PATH=/x:$PATH`` into ``/x:``, and it has no
``${X:-default}``. So ``_expand`` is a small tokenizer of ``$X``, ``${X}``, ``${X:-w}``,
``${X-w}``, ``${X:+w}`` and ``${X+w}`` (quotes and backslashes as Docker reads them). It
resolves what the Dockerfile defines (ARG defaults, ``build_args``, earlier ENV) and leaves any
other reference as written. In ENV values the builder expands those against the image's
environment (``"expand": True``); in FROM, WORKDIR, USER, COPY and ADD nothing would, so one
left there is refused. RUN text is the shell's to expand, as in Docker, and the ARGs in scope are
exported before it, as Docker puts them in a RUN's environment.
"""

from __future__ import annotations

import glob
import io
import json
import os
import posixpath
import shlex
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from dockerfile_parse import DockerfileParser
from dockerfile_parse.util import WordSplitter

from . import exception
from .file_pattern_matcher import FilePatternMatcher, kept_files

Step = dict[str, Any]

# How Docker would run the image (command, ports, metadata, health): ketch runs functions in the
# image and reads none of it, so these make no step.
_RUNTIME_ONLY = {"CMD", "LABEL", "EXPOSE", "MAINTAINER", "STOPSIGNAL", "HEALTHCHECK", "VOLUME"}

_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_CHARS = _NAME_START + "0123456789"


def steps_from_dockerfile(path: str, context_dir: str | None,
                          build_args: dict[str, str]) -> list[Step]:
    """The build steps of the single-stage Dockerfile at ``path``; its sources are relative to
    ``context_dir`` (default: the Dockerfile's folder)."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise exception.InvalidError(
            f"cannot read the Dockerfile {path}: {exc}; pass the path of a readable Dockerfile"
        ) from exc
    folder = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
    context = _context(context_dir, folder)
    ignore = os.path.abspath(os.path.expanduser(path)) + ".dockerignore"  # BuildKit's own file
    ignore = ignore if os.path.isfile(ignore) else os.path.join(context, ".dockerignore")
    translator = _Translator(f"Dockerfile {path}", context, ignore, build_args, "/", True)
    return translator.run(text)


def steps_from_commands(commands: list[str], context_dir: str | None,
                        build_args: dict[str, str] | None = None, *,
                        workdir: str = "/") -> list[Step]:
    """The build steps of Dockerfile lines added to an image (no FROM); sources are relative to
    ``context_dir`` (default: the current directory), relative paths to ``workdir``."""
    if isinstance(commands, str) or not all(isinstance(c, str) for c in commands):
        raise exception.InvalidError("dockerfile_commands takes Dockerfile lines as strings")
    context = _context(context_dir, os.getcwd())
    translator = _Translator("dockerfile_commands", context,
                             os.path.join(context, ".dockerignore"), build_args or {},
                             workdir, False)
    return translator.run("\n".join(commands))


def _context(context_dir: str | None, default: str) -> str:
    context = os.path.abspath(os.path.expanduser(context_dir)) if context_dir else default
    if not os.path.isdir(context):
        raise exception.InvalidError(
            f"context_dir {context_dir} is not a directory; pass the folder that COPY and ADD "
            "sources are relative to"
        )
    return context


@dataclass
class _Instruction:
    name: str
    value: str
    line: int  # 1-based
    text: str  # as written, on one line, for messages


class _Translator:
    _handlers: dict[str, Callable[[_Translator, _Instruction], None]]  # set below the class

    def __init__(self, where: str, context: str, ignore_file: str, build_args: dict[str, str],
                 workdir: str, whole_file: bool) -> None:
        self.where = where
        self.context = context
        self.build_args = dict(build_args)
        self.workdir = workdir
        self.whole_file = whole_file
        self.ignore = _read_dockerignore(ignore_file)
        self.matcher = FilePatternMatcher(*self.ignore)
        self.staged = not whole_file  # dockerfile_commands lines are already inside a stage
        self.global_args: dict[str, str | None] = {}  # ARGs before FROM: for FROM only
        self.args: dict[str, str | None] = {}  # the stage's ARGs; None: declared, no value
        # The stage's ENV; None: its value still holds a reference only the builder can expand,
        # so a later reference to it is left for the builder too.
        self.env: dict[str, str | None] = {}
        self.steps: list[Step] = []

    def run(self, text: str) -> list[Step]:
        parser = DockerfileParser(fileobj=io.BytesIO(text.encode()), env_replace=False)
        for item in parser.structure:
            if item["instruction"] == "COMMENT":
                continue
            shown = " ".join(item["content"].replace("\\\n", " ").split())
            ins = _Instruction(item["instruction"], item["value"].strip(), item["startline"] + 1,
                               shown if len(shown) <= 120 else shown[:117] + "…")
            if ins.name not in ("ARG", "FROM") and not self.staged:
                self._refuse(ins, "comes before FROM",
                             "start the Dockerfile with FROM (only ARG may come before it)")
            if ins.name in _RUNTIME_ONLY:
                continue
            if not ins.value:
                self._refuse(ins, "has no arguments", f"give {ins.name} its arguments, or drop "
                             "the line")
            handler = self._handlers.get(ins.name)
            if handler is None:
                self._unknown(ins)
            handler(self, ins)
        if not self.staged:
            raise exception.InvalidError(
                f"{self.where} has no FROM instruction; start it with FROM <image>"
            )
        return self.steps

    # -- messages -------------------------------------------------------------------------------

    def _refuse(self, ins: _Instruction, why: str, fix: str) -> NoReturn:
        raise exception.InvalidError(f"{self.where}, line {ins.line}: `{ins.text}` {why}; {fix}")

    def _unknown(self, ins: _Instruction) -> NoReturn:
        if ins.name == "SHELL":
            self._refuse(ins, "changes the shell RUN uses, which ketch's builder does not do",
                         "call the shell in the RUN line itself, e.g. RUN bash -c '...'")
        if ins.name == "ONBUILD":
            self._refuse(ins, "defers an instruction to images built FROM this one, which ketch "
                         "does not do", "write the instruction itself where it should run")
        self._refuse(ins, f"is not a Dockerfile instruction ketch knows ({ins.name})",
                     "check its spelling, or write it as a RUN line")

    def _step(self, kind: str, **fields: Any) -> None:
        self.steps.append({"kind": kind, "force_build": False, **fields})

    # -- variables ------------------------------------------------------------------------------

    def _known(self) -> dict[str, str | None]:
        # ENV wins over an ARG of the same name, as in Docker; a declared ARG without a value
        # reads as empty.
        return {**{k: v or "" for k, v in self.args.items()}, **self.env}

    def _word(self, ins: _Instruction, word: str, known: Mapping[str, str | None]) -> str:
        """A word of FROM, WORKDIR, USER, COPY or ADD: every variable must resolve here."""
        value, unresolved, _ = self._expand(ins, word, known)
        if unresolved:
            names = ", ".join(sorted(unresolved))
            self._refuse(ins, f"uses {names}, which the Dockerfile does not define (ketch cannot "
                         "read it from the base image here)",
                         f"define it with ARG or ENV before this line, or pass "
                         f"build_args={{{next(iter(sorted(unresolved)))!r}: ...}}")
        return value

    def _expand(self, ins: _Instruction, text: str,
                known: Mapping[str, str | None]) -> tuple[str, set[str], bool]:
        try:
            return _expand(text, known)
        except ValueError as exc:
            self._refuse(ins, f"has {exc}", "close its quotes and braces, and write variables "
                         "as $NAME, ${NAME}, ${NAME:-default} or ${NAME:+value}")

    def _split(self, ins: _Instruction) -> list[str]:
        """The instruction's words, quotes kept for ``_expand``."""
        try:
            return list(WordSplitter(ins.value).split(dequote=False))
        except ValueError as exc:
            self._refuse(ins, f"cannot be split into words ({exc})", "check its quotes")

    def _flags(self, ins: _Instruction) -> tuple[list[str], list[str], str]:
        """The leading ``--flag`` words, the other words, and the text after the flags."""
        words, rest = self._split(ins), ins.value
        count = next((i for i, w in enumerate(words) if not w.startswith("--")), len(words))
        for _ in range(count):
            rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
        return words[:count], words[count:], rest

    # -- instructions ---------------------------------------------------------------------------

    def _from(self, ins: _Instruction) -> None:
        if not self.whole_file:
            self._refuse(ins, "sets the base image, which dockerfile_commands cannot",
                         "use ketch.Image.from_registry(<image>) for the base and pass the "
                         "other lines to .dockerfile_commands()")
        if self.staged:
            self._refuse(ins, "starts a second stage (a multi-stage build), which ketch does not "
                         "build", "build that stage elsewhere, push it to a registry and FROM "
                         "it, or copy what it makes into a single stage")
        flags, words, _ = self._flags(ins)
        if flags:
            self._refuse(ins, f"has {flags[0]}, which ketch does not take (it builds for the "
                         "machine it builds on)", "remove the flag")
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            self._refuse(ins, "is not FROM <image> [AS <name>]", "write it as FROM <image>")
        ref = self._word(ins, words[0], {k: v or "" for k, v in self.global_args.items()})
        if ref == "scratch":
            self._refuse(ins, "starts from an empty image, which has no Python to run functions",
                         "FROM a base image with Python, or use "
                         "ketch.Image.from_registry(<image>, add_python='3.11')")
        if not ref:
            self._refuse(ins, "names no image", "FROM <image>, or pass the ARG it uses in "
                         "build_args")
        self.staged = True
        self._step("registry", ref=ref, secret=None)

    def _arg(self, ins: _Instruction) -> None:
        for word in self._split(ins):
            raw_name, has_default, raw_default = word.partition("=")
            name, _, _ = self._expand(ins, raw_name, {})
            if not name or name[0] not in _NAME_START or any(c not in _NAME_CHARS for c in name):
                self._refuse(ins, f"declares {name!r}, which is not a variable name",
                             "write ARG NAME or ARG NAME=default")
            if not self.staged:  # before FROM: usable in FROM, and redeclared in the stage
                known = {k: v or "" for k, v in self.global_args.items()}
                default = self._word(ins, raw_default, known) if has_default else None
                self.global_args[name] = self.build_args.get(name, default)
                continue
            if name in self.build_args:
                value: str | None = self.build_args[name]
            elif has_default:
                value, _, _ = self._expand(ins, raw_default, self._known())
            else:
                value = self.global_args.get(name)
            self.args[name] = value

    def _env(self, ins: _Instruction) -> None:
        words = self._split(ins)
        if words and "=" not in words[0]:  # legacy ENV name value: the rest of the line
            pairs = [(words[0], ins.value[len(words[0]):].strip())]
            if not pairs[0][1]:
                self._refuse(ins, f"gives {words[0]} no value", f"write ENV {words[0]}=<value>")
        elif words and all("=" in w for w in words):
            pairs = [(w.split("=", 1)[0], w.split("=", 1)[1]) for w in words]
        else:
            self._refuse(ins, "is not ENV NAME=value", "write ENV NAME=value [NAME2=value2 ...]")
        known = self._known()  # one instruction reads the values from before it, as in Docker
        expanded: dict[str, str] = {}
        literal: dict[str, str] = {}
        for raw_name, raw_value in pairs:
            name, _, _ = self._expand(ins, raw_name, {})
            if not name or any(c not in _NAME_CHARS for c in name):
                self._refuse(ins, f"sets {name!r}, which is not a variable name",
                             "write ENV NAME=value")
            value, unresolved, dollar = self._expand(ins, raw_value, known)
            if dollar and unresolved:
                self._refuse(ins, f"gives {name} both a literal $ and a variable the builder "
                             "expands, which one value cannot carry",
                             "set the literal part in an ENV line of its own")
            # A literal $ (quoted or escaped) must reach the image as written: not expanded.
            (literal if dollar else expanded)[name] = value
            self.env[name] = None if unresolved else value
        if expanded:
            self._step("env", vars=expanded, expand=True)
        if literal:
            self._step("env", vars=literal, expand=False)

    def _run(self, ins: _Instruction) -> None:
        if ins.value.startswith("--"):
            flag = ins.value.split()[0]
            self._refuse(ins, f"uses the BuildKit flag {flag}, which ketch's builder does not "
                         "have", "remove it (for a cache mount, let the step download again)")
        argv = _exec_form(ins.value)
        if argv is not None:
            if not argv:
                self._refuse(ins, "runs nothing", "give RUN a command, or drop the line")
            command = shlex.join(argv)
        else:
            # A BuildKit heredoc's body follows on lines of their own, which would be read as
            # instructions: refuse it here, at its RUN.
            if any(w.startswith("<<") and not w.startswith("<<<") for w in self._split(ins)):
                self._refuse(ins, "uses a heredoc, which ketch does not read",
                             "write the script with \\ line continuations, or COPY a script "
                             "file and RUN it")
            command = ins.value
        # Docker puts the ARGs in scope into a RUN's environment (apt reads DEBIAN_FRONTEND
        # that way); ENV ones are already in the image's environment.
        exports = [f"{k}={shlex.quote(v)}" for k, v in self.args.items()
                   if v is not None and k not in self.env]
        self._step("run", commands=[f"export {' '.join(exports)}", command] if exports
                   else [command])

    def _workdir(self, ins: _Instruction) -> None:
        path = self._word(ins, ins.value, self._known())
        if not path:
            self._refuse(ins, "names no folder", "write WORKDIR /path")
        self.workdir = posixpath.normpath(posixpath.join(self.workdir, path))
        self._step("workdir", path=self.workdir)

    def _user(self, ins: _Instruction) -> None:
        user = self._word(ins, ins.value, self._known())
        if not user or len(user.split()) != 1:
            self._refuse(ins, "is not USER <name>[:<group>]", "write USER <name>")
        self._step("user", user=user)

    def _entrypoint(self, ins: _Instruction) -> None:
        argv = _exec_form(ins.value)
        self._step("entrypoint", argv=argv if argv is not None else ["/bin/sh", "-c", ins.value])

    def _copy(self, ins: _Instruction) -> None:
        flags, words, rest = self._flags(ins)
        for flag in flags:
            name = flag.split("=", 1)[0]
            if name == "--link":  # only how Docker caches the layer: the files are the same
                continue
            if name == "--from":
                self._refuse(ins, "copies from another stage or image (a multi-stage build), "
                             "which ketch does not build", "build that stage elsewhere, push "
                             "it to a registry and FROM it, or make the files in this stage")
            if name in ("--chown", "--chmod"):
                self._refuse(ins, f"sets ownership or modes with {name}, which ketch's copy "
                             "steps do not", "drop the flag and RUN chown/chmod after the copy")
            self._refuse(ins, f"has {name}, which ketch does not take", "remove the flag")
        known = self._known()
        argv = _exec_form(rest)
        if argv is not None:  # its words are unquoted already: quoted again, to substitute only
            items = [self._word(ins, json.dumps(w, ensure_ascii=False), known) for w in argv]
        else:
            items = [self._word(ins, w, known) for w in words]
        if len(items) < 2:
            self._refuse(ins, f"needs a source and a destination ({ins.name} <src>... <dest>)",
                         f"write {ins.name} <src> <dest>")
        *sources, dest = items
        found = [entry for source in sources for entry in self._sources(ins, source)]
        folder = (dest.endswith("/") or len(found) > 1
                  or posixpath.basename(dest) in (".", ".."))
        remote = posixpath.normpath(posixpath.join(self.workdir, dest))
        for local, parts in found:
            if os.path.isdir(local):
                # The .dockerignore's patterns go with the folder: the builder matches them
                # against paths relative to the context, as Docker does.
                self._step("copy_dir", local=local, remote=remote, ignore=self.ignore,
                           **({"ignore_root": self.context} if self.ignore else {}))
                continue
            if ins.name == "ADD" and _is_archive(local):
                self._refuse(ins, f"would unpack the archive {'/'.join(parts)}, which ketch's "
                             "ADD does not", "COPY the archive and unpack it with RUN tar -xf")
            target = posixpath.join(remote, os.path.basename(local)) if folder else remote
            self._step("copy_file", local=local, remote=target, ignore=[])

    def _sources(self, ins: _Instruction, source: str) -> list[tuple[str, list[str]]]:
        """The context entries one COPY source names: (absolute path, parts below context)."""
        if "://" in source or source.startswith("git@"):
            self._refuse(ins, f"fetches {source}, which ketch's ADD and COPY do not",
                         f"download it in a RUN line, e.g. RUN curl -fsSL {source} -o <dest>")
        normal = posixpath.normpath(source)
        if posixpath.isabs(source) or normal == ".." or normal.startswith("../"):
            self._refuse(ins, f"copies {source}, which is outside the build context "
                         f"{self.context}", "copy files from inside the context, or pass a "
                         "context_dir that holds them")
        pattern = os.path.normpath(os.path.join(self.context, *normal.split("/")))
        if glob.has_magic(normal):
            matches = sorted(glob.glob(os.path.join(glob.escape(self.context), normal),
                                       include_hidden=True))
            found = [m for m in matches if not self._excluded(self._parts(m))]
            if not found:
                self._refuse(ins, f"matches no file in the build context {self.context} with "
                             f"{source}", "check the pattern, or the context_dir")
        else:
            if not os.path.lexists(pattern):
                self._refuse(ins, f"copies {source}, which is not in the build context "
                             f"{self.context}", "check the path, or pass the right context_dir")
            if self._excluded(self._parts(pattern)):
                self._refuse(ins, f"copies {source}, which the .dockerignore excludes",
                             "remove its pattern from .dockerignore, or stop copying it")
            found = [pattern]
        real_context = os.path.realpath(self.context)
        for path in found:
            if os.path.commonpath([os.path.realpath(path), real_context]) != real_context:
                self._refuse(ins, f"copies {source}, which links outside the build context "
                             f"{self.context}", "copy the linked files into the context")
        return [(path, self._parts(path)) for path in found]

    def _parts(self, path: str) -> list[str]:
        relative = os.path.relpath(path, self.context)
        return [] if relative == "." else relative.split(os.sep)

    # -- .dockerignore --------------------------------------------------------------------------

    def _excluded(self, parts: list[str]) -> bool:
        """Whether an entry is out of the context: ignored, with nothing inside kept."""
        if not self.matcher("/".join(parts)):
            return False
        path = os.path.join(self.context, *parts)
        return not os.path.isdir(path) or not kept_files(path, self.ignore, self.context)



_Translator._handlers = {
    "FROM": _Translator._from, "ARG": _Translator._arg, "ENV": _Translator._env,
    "RUN": _Translator._run, "WORKDIR": _Translator._workdir, "USER": _Translator._user,
    "ENTRYPOINT": _Translator._entrypoint, "COPY": _Translator._copy, "ADD": _Translator._copy,
}


def _exec_form(value: str) -> list[str] | None:
    """``["a", "b"]`` → ["a", "b"]; None for the shell form (as Docker, for anything else)."""
    if not value.lstrip().startswith("["):
        return None
    try:
        argv = json.loads(value)
    except ValueError:
        return None
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        return None
    return argv


def _is_archive(path: str) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


# -- variables ------------------------------------------------------------------------------------


def _expand(text: str, known: Mapping[str, str | None]) -> tuple[str, set[str], bool]:
    """Docker's word processing: quotes and backslashes consumed, variables substituted.

    Returns the text, the names left as written (not in ``known``, or None there), and whether
    a literal ``$`` came out of a quote or an escape (which a later expansion would misread)."""
    out: list[str] = []
    unresolved: set[str] = set()
    dollar = False
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "'" and i + 1 < len(text):
            nxt = text[i + 1]
            if quote == '"' and nxt not in '"\\$`':
                out.append(ch)  # inside double quotes only these are escaped
            else:
                dollar = dollar or nxt == "$"
                out.append(nxt)
                i += 2
                continue
        elif ch in "'\"" and quote in ("", ch):
            quote = "" if quote else ch
        elif ch == "$" and quote == "'":
            dollar = True
            out.append(ch)
        elif ch == "$":
            end, value, names, inner_dollar = _reference(text, i, known)
            unresolved |= names
            dollar = dollar or inner_dollar
            out.append(value)
            i = end
            continue
        else:
            out.append(ch)
        i += 1
    if quote:
        raise ValueError(f"an unclosed {quote} quote")
    return "".join(out), unresolved, dollar


def _reference(text: str, start: int,
               known: Mapping[str, str | None]) -> tuple[int, str, set[str], bool]:
    """The ``$...`` at ``start``: (where it ends, its value, unresolved names, literal $)."""
    if text.startswith("${", start):
        depth, end = 0, start + 2
        while end < len(text):
            if text[end] == "{":
                depth += 1
            elif text[end] == "}":
                if depth == 0:
                    break
                depth -= 1
            end += 1
        else:
            raise ValueError(f"an unclosed {text[start:]}")
        body = text[start + 2:end]
        end += 1
        name_end = 0
        while name_end < len(body) and body[name_end] in _NAME_CHARS:
            name_end += 1
        name, operation = body[:name_end], body[name_end:]
        if not name or not (operation == "" or operation[:2] in (":-", ":+")
                            or operation[:1] in ("-", "+")):
            raise ValueError(f"{text[start:end]}, which is not ${{NAME}}, ${{NAME:-default}} "
                             "or ${NAME:+value}")
    else:
        end = start + 1
        while end < len(text) and text[end] in _NAME_CHARS:
            end += 1
        name, operation = text[start + 1:end], ""
        if not name or name[0] not in _NAME_START:
            return start + 1, "$", set(), False  # a lone $ stays a $, as in Docker
    value = known.get(name)
    if value is None:  # not the Dockerfile's to resolve: left as written
        return end, text[start:end], {name}, False
    if not operation:
        return end, value, set(), False
    colon = operation.startswith(":")
    word = operation[2:] if colon else operation[1:]
    is_set = value != "" if colon else True
    use_word = (not is_set) if operation.lstrip(":")[0] == "-" else is_set
    if not use_word:
        return end, value if operation.lstrip(":")[0] == "-" else "", set(), False
    expanded, names, dollar = _expand(word, known)
    return end, expanded, names, dollar


# -- .dockerignore --------------------------------------------------------------------------------


def _read_dockerignore(path: str) -> list[str]:
    try:
        return FilePatternMatcher.from_file(path).patterns
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise exception.InvalidError(f"cannot read {path}: {exc}; fix or remove it") from exc
