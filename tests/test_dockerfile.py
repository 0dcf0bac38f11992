"""Dockerfile instructions become image build steps; what ketch cannot build is refused by line."""

from __future__ import annotations

import os
import tarfile

import pytest

from ketch import exception
from ketch.dockerfile import steps_from_commands, steps_from_dockerfile


def write(root, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def steps(tmp_path, text: str, build_args: dict[str, str] | None = None, **files: str):
    """The steps of ``text`` as tmp_path/Dockerfile, less the FROM step and force_build."""
    write(tmp_path, {"Dockerfile": text, **files})
    found = steps_from_dockerfile(str(tmp_path / "Dockerfile"), None, build_args or {})
    assert all(step.pop("force_build") is False for step in found)
    return found[1:] if found and found[0]["kind"] == "registry" else found


def refused(tmp_path, text: str, match: str, **files: str) -> str:
    with pytest.raises(exception.InvalidError, match=match) as info:
        steps(tmp_path, text, **files)
    return str(info.value)


# -- instructions -------------------------------------------------------------------------------


def test_from_becomes_a_registry_step(tmp_path):
    write(tmp_path, {"Dockerfile": "FROM python:3.12-slim AS app\n"})
    assert steps_from_dockerfile(str(tmp_path / "Dockerfile"), None, {}) == [
        {"kind": "registry", "ref": "python:3.12-slim", "secret": None, "force_build": False}]


def test_run_shell_and_exec_forms(tmp_path):
    assert steps(tmp_path, 'FROM x\nRUN echo "a b" && true\nRUN ["echo", "a b", "$HOME"]\n') == [
        {"kind": "run", "commands": ['echo "a b" && true']},
        {"kind": "run", "commands": ["echo 'a b' '$HOME'"]},
    ]


def test_line_continuations_and_comments(tmp_path):
    text = ("# syntax=docker/dockerfile:1\n# a comment\nFROM x\n\nRUN apt-get update && \\\n"
            "    # a comment inside the instruction\n    apt-get install -y curl\n"
            "run echo lower-case\n")
    assert steps(tmp_path, text) == [
        {"kind": "run", "commands": ["apt-get update &&     apt-get install -y curl"]},
        {"kind": "run", "commands": ["echo lower-case"]},
    ]


def test_env_both_forms(tmp_path):
    assert steps(tmp_path, 'FROM x\nENV A=1 B="two words"\nENV C three words\n') == [
        {"kind": "env", "vars": {"A": "1", "B": "two words"}, "expand": True},
        {"kind": "env", "vars": {"C": "three words"}, "expand": True},
    ]


def test_workdir_relative_to_the_last_one(tmp_path):
    assert steps(tmp_path, "FROM x\nWORKDIR app\nWORKDIR sub/../lib\nWORKDIR /srv\n") == [
        {"kind": "workdir", "path": "/app"},
        {"kind": "workdir", "path": "/app/lib"},
        {"kind": "workdir", "path": "/srv"},
    ]


def test_user_and_entrypoint(tmp_path):
    text = ('FROM x\nUSER app:staff\nENTRYPOINT ["python", "-m", "srv"]\n'
            "ENTRYPOINT python -m srv\nENTRYPOINT []\n")
    assert steps(tmp_path, text) == [
        {"kind": "user", "user": "app:staff"},
        {"kind": "entrypoint", "argv": ["python", "-m", "srv"]},
        {"kind": "entrypoint", "argv": ["/bin/sh", "-c", "python -m srv"]},
        {"kind": "entrypoint", "argv": []},
    ]


def test_instructions_about_running_make_no_step(tmp_path):
    text = ('FROM x\nCMD ["python"]\nLABEL a=b\nEXPOSE 80\nMAINTAINER me\nSTOPSIGNAL SIGINT\n'
            "HEALTHCHECK CMD true\nVOLUME /data\n")
    assert steps(tmp_path, text) == []


# -- variables ----------------------------------------------------------------------------------


def test_arg_before_from_and_build_args(tmp_path):
    text = "ARG PY=3.11\nARG UNSET\nARG VARIANT=slim$UNSET\nFROM python:${PY}-$VARIANT\n"
    write(tmp_path, {"Dockerfile": text})
    path = str(tmp_path / "Dockerfile")
    assert steps_from_dockerfile(path, None, {})[0]["ref"] == "python:3.11-slim"
    assert steps_from_dockerfile(path, None, {"PY": "3.13"})[0]["ref"] == "python:3.13-slim"


def test_arg_substitution_in_the_stage(tmp_path):
    text = ("ARG V=1\nFROM x\nARG V\nARG DIR=/opt/v$V\nENV HOME=$DIR/home\nWORKDIR ${DIR}\n"
            "ENV E=${UNSET_ARG:-fallback} F=${V:+set}\nARG UNSET_ARG\n")
    assert steps(tmp_path, text, {"DIR": "/srv"}) == [
        {"kind": "env", "vars": {"HOME": "/srv/home"}, "expand": True},
        {"kind": "workdir", "path": "/srv"},
        {"kind": "env", "vars": {"E": "${UNSET_ARG:-fallback}", "F": "set"}, "expand": True},
    ]


def test_base_image_variables_are_left_for_the_builder(tmp_path):
    text = ("FROM x\nENV PATH=/opt/venv/bin:$PATH\nENV OLD=$PATH NEW=${PATH}:/more\n"
            "ENV HOME=/root\nENV TOOLS=$HOME/tools\n")
    assert steps(tmp_path, text) == [
        {"kind": "env", "vars": {"PATH": "/opt/venv/bin:$PATH"}, "expand": True},
        # PATH now holds a base image value: the builder, not the Dockerfile, knows it
        {"kind": "env", "vars": {"OLD": "$PATH", "NEW": "${PATH}:/more"}, "expand": True},
        {"kind": "env", "vars": {"HOME": "/root"}, "expand": True},
        {"kind": "env", "vars": {"TOOLS": "/root/tools"}, "expand": True},
    ]


def test_one_env_reads_the_values_from_before_it(tmp_path):
    assert steps(tmp_path, "FROM x\nENV A=old\nENV A=new B=$A\n")[1]["vars"] == {
        "A": "new", "B": "old"}


def test_literal_dollars_are_not_expanded_again(tmp_path):
    assert steps(tmp_path, "FROM x\nENV A='$HOME' B=\\$x C=$HOME\n") == [
        {"kind": "env", "vars": {"C": "$HOME"}, "expand": True},
        {"kind": "env", "vars": {"A": "$HOME", "B": "$x"}, "expand": False},
    ]


def test_env_wins_over_arg(tmp_path):
    assert steps(tmp_path, "FROM x\nARG A=arg\nENV A=env\nWORKDIR /$A\n")[-1] == {
        "kind": "workdir", "path": "/env"}


def test_run_gets_the_args_in_its_environment(tmp_path):
    text = "FROM x\nARG DEBIAN_FRONTEND=noninteractive\nARG EMPTY\nRUN apt-get install -y $PKG\n"
    assert steps(tmp_path, text, {"PKG": "ignored: not declared"}) == [
        {"kind": "run", "commands": ["export DEBIAN_FRONTEND=noninteractive",
                                     "apt-get install -y $PKG"]}]


def test_variables_the_dockerfile_does_not_define_are_refused_where_nothing_expands(tmp_path):
    message = refused(tmp_path, "FROM x\nWORKDIR $HOME/app\n", "uses HOME")
    assert "line 2" in message and "build_args" in message
    refused(tmp_path, "FROM python:$PY\n", "uses PY")
    refused(tmp_path, "FROM x\nENV P=/a:$PATH\nCOPY f $P\n", "uses P", f="")
    refused(tmp_path, "FROM x\nENV A=${B\n", r"unclosed \$\{B")
    refused(tmp_path, "FROM x\nENV A=${B?x}\n", r"\$\{B\?x\}, which is not")
    refused(tmp_path, "FROM x\nENV A='open\n", "unclosed ' quote")
    refused(tmp_path, "FROM x\nENV A='$x'$HOME\n", "both a literal")


# -- COPY and ADD -------------------------------------------------------------------------------


def test_copy_files_and_folders(tmp_path):
    files = {"main.py": "", "app/a.py": "", "app/sub/b.py": ""}
    text = ("FROM x\nWORKDIR /srv\nCOPY main.py .\nCOPY main.py /opt/renamed.py\n"
            "COPY main.py /opt/into/\nCOPY app /code\nCOPY app/ rel\n")
    assert steps(tmp_path, text, **files)[1:] == [
        {"kind": "copy_file", "local": str(tmp_path / "main.py"), "remote": "/srv/main.py",
         "ignore": []},
        {"kind": "copy_file", "local": str(tmp_path / "main.py"), "remote": "/opt/renamed.py",
         "ignore": []},
        {"kind": "copy_file", "local": str(tmp_path / "main.py"),
         "remote": "/opt/into/main.py", "ignore": []},
        # a folder's contents go into the destination, as in Docker
        {"kind": "copy_dir", "local": str(tmp_path / "app"), "remote": "/code", "ignore": []},
        {"kind": "copy_dir", "local": str(tmp_path / "app"), "remote": "/srv/rel", "ignore": []},
    ]


def test_several_sources_and_globs_go_into_a_folder(tmp_path):
    files = {"a.py": "", "b.py": "", "c.txt": "", ".hidden.py": "", "d/e.py": ""}
    found = steps(tmp_path, "FROM x\nCOPY *.py /app\nCOPY a.py c.txt /two\nCOPY c.tx? /one\n",
                  **files)
    assert [(s["local"], s["remote"]) for s in found] == [
        (str(tmp_path / ".hidden.py"), "/app/.hidden.py"),
        (str(tmp_path / "a.py"), "/app/a.py"),
        (str(tmp_path / "b.py"), "/app/b.py"),
        (str(tmp_path / "a.py"), "/two/a.py"),
        (str(tmp_path / "c.txt"), "/two/c.txt"),
        (str(tmp_path / "c.txt"), "/one"),
    ]


def test_copy_exec_form_link_and_add_of_plain_files(tmp_path):
    found = steps(tmp_path, 'FROM x\nCOPY --link ["my file", "/a b/"]\nADD conf /etc/conf\n',
                  **{"my file": "", "conf": ""})
    assert [(s["kind"], s["remote"]) for s in found] == [
        ("copy_file", "/a b/my file"), ("copy_file", "/etc/conf")]


def test_context_dir_and_commands(tmp_path, monkeypatch):
    write(tmp_path, {"ctx/f.txt": "", "Dockerfile": "FROM x\nCOPY f.txt /f.txt\n"})
    found = steps_from_dockerfile(str(tmp_path / "Dockerfile"), str(tmp_path / "ctx"), {})
    assert found[1]["local"] == str(tmp_path / "ctx" / "f.txt")
    monkeypatch.chdir(tmp_path / "ctx")
    assert steps_from_commands(["COPY f.txt rel", "ARG V=1", "RUN echo $V"], None,
                               workdir="/w") == [
        {"kind": "copy_file", "local": str(tmp_path / "ctx" / "f.txt"), "remote": "/w/rel",
         "ignore": [], "force_build": False},
        {"kind": "run", "commands": ["export V=1", "echo $V"], "force_build": False},
    ]


def copied(step: dict) -> list[str]:
    """What the builder copies for a copy_dir step: its own walk."""
    from ketch.worker.images.layers import walk

    return walk(step["local"], step["ignore"], step.get("ignore_root"))


def test_dockerignore_goes_with_the_copy_matched_from_the_context(tmp_path):
    files = {".dockerignore": "# build outputs\n**/__pycache__\n*.log\napp/secret.txt\n",
             "app/a.py": "", "app/secret.txt": "", "app/__pycache__/a.pyc": "",
             "app/x.log": "", "top.log": ""}
    found = steps(tmp_path, "FROM x\nCOPY app /app\n", **files)
    assert found == [{"kind": "copy_dir", "local": str(tmp_path / "app"), "remote": "/app",
                      "ignore": ["**/__pycache__", "*.log", "app/secret.txt"],
                      "ignore_root": str(tmp_path)}]
    # *.log is anchored at the context's root, as in Docker: app/x.log is copied
    assert copied(found[0]) == ["a.py", "x.log"]
    # a glob sees the context less what .dockerignore leaves out
    refused(tmp_path, "FROM x\nCOPY *.log /logs/\n", "matches no file")


def test_exceptions_in_the_dockerignore_keep_what_docker_keeps(tmp_path):
    files = {".dockerignore": "*\n!src\n!requirements.txt\nsrc/**/*.tmp\n",
             "src/m.py": "", "src/build/x.tmp": "", "src/tests/t.py": "",
             "requirements.txt": "", "tests/t.py": "", "notes.md": ""}
    found = steps(tmp_path, "FROM x\nCOPY . /app\n", **files)
    assert len(found) == 1 and copied(found[0]) == [
        "requirements.txt", os.path.join("src", "m.py"), os.path.join("src", "tests", "t.py")]


def test_a_bare_name_in_the_dockerignore_is_the_top_level_one(tmp_path):
    files = {".dockerignore": "build\n", "build/out": "", "pkg/build/keep.py": "", "m.py": ""}
    found = steps(tmp_path, "FROM x\nCOPY . /app\n", **files)
    assert copied(found[0]) == [".dockerignore", "Dockerfile", "m.py",
                                os.path.join("pkg", "build", "keep.py")]


def test_dockerignore_next_to_the_dockerfile_wins(tmp_path):
    files = {"Dockerfile.dockerignore": "d/b\n", ".dockerignore": "d/a\n", "d/a": "", "d/b": ""}
    found = steps(tmp_path, "FROM x\nCOPY d /d\n", **files)
    assert copied(found[0]) == ["a"]


# -- refusals -----------------------------------------------------------------------------------


def test_multi_stage_is_refused_with_the_line(tmp_path):
    message = refused(tmp_path, "FROM a AS build\nRUN make\nFROM b\n", "second stage")
    assert f"Dockerfile {tmp_path / 'Dockerfile'}, line 3: `FROM b`" in message
    assert "push it to a registry" in message
    refused(tmp_path, "FROM b\nCOPY --from=build /out /out\n", "line 2.*multi-stage")


def test_refused_instructions(tmp_path):
    refused(tmp_path, "FROM scratch\n", "line 1.*no Python.*add_python")
    refused(tmp_path, "FROM --platform=linux/amd64 x\n", "--platform")
    refused(tmp_path, "FROM x\nRUN --mount=type=cache,target=/root/.cache pip install a\n",
            "line 2.*--mount=type=cache")
    refused(tmp_path, "FROM x\nSHELL [\"/bin/bash\", \"-c\"]\n", "line 2: `SHELL.*bash -c")
    refused(tmp_path, "FROM x\nONBUILD RUN make\n", "line 2: `ONBUILD")
    refused(tmp_path, "FROM x\nFROBNICATE a\n", "line 2.*FROBNICATE")
    refused(tmp_path, "RUN make\nFROM x\n", "line 1.*before FROM")
    refused(tmp_path, "ARG A=1\n", "no FROM")
    refused(tmp_path, "FROM x\nRUN\n", "line 2: `RUN` has no arguments")
    refused(tmp_path, "FROM x\nENV A\n", "gives A no value")
    refused(tmp_path, "FROM x\nARG 1A=2\n", "not a variable name")
    refused(tmp_path, "FROM x\nRUN <<EOF\necho hi\nEOF\n", "line 2.*heredoc")


def test_refused_copies(tmp_path):
    refused(tmp_path, "FROM x\nADD https://example.com/a.tgz /a\n",
            "line 2.*RUN curl -fsSL https://example.com/a.tgz")
    refused(tmp_path, "FROM x\nCOPY missing.txt /m\n", "copies missing.txt, which is not in")
    refused(tmp_path, "FROM x\nCOPY *.nothing /m/\n", r"matches no file.*\*\.nothing")
    refused(tmp_path, "FROM x\nCOPY ../outside /o\n", "outside the build context")
    refused(tmp_path, "FROM x\nCOPY /etc/passwd /o\n", "outside the build context")
    refused(tmp_path, "FROM x\nCOPY --chown=app f /f\n", "--chown.*RUN chown", f="")
    refused(tmp_path, "FROM x\nCOPY --chmod=755 f /f\n", "--chmod", f="")
    refused(tmp_path, "FROM x\nCOPY only-one\n", "source and a destination")
    refused(tmp_path, "FROM x\nCOPY f /f\n", "the .dockerignore excludes",
            f="", **{".dockerignore": "f\n"})


def test_a_link_out_of_the_context_is_refused(tmp_path):
    write(tmp_path, {"outside/secret": "", "ctx/Dockerfile": "FROM x\nCOPY link /l\n"})
    (tmp_path / "ctx" / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(exception.InvalidError, match="links outside the build context"):
        steps_from_dockerfile(str(tmp_path / "ctx" / "Dockerfile"), None, {})


def test_add_of_an_archive_is_refused(tmp_path):
    write(tmp_path, {"inside.txt": "x"})
    with tarfile.open(tmp_path / "files.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "inside.txt", arcname="inside.txt")
    refused(tmp_path, "FROM x\nADD files.tar.gz /opt/\n", "unpack.*RUN tar -xf")
    assert steps(tmp_path, "FROM x\nCOPY files.tar.gz /opt/\n")[0]["remote"] == (
        "/opt/files.tar.gz")


def test_from_in_dockerfile_commands_is_refused(tmp_path):
    with pytest.raises(exception.InvalidError,
                       match=r"dockerfile_commands, line 2: `FROM python`.*from_registry"):
        steps_from_commands(["RUN true", "FROM python"], str(tmp_path))


def test_a_dockerfile_that_cannot_be_read(tmp_path):
    with pytest.raises(exception.InvalidError, match=f"cannot read the Dockerfile {tmp_path}"):
        steps_from_dockerfile(str(tmp_path / "nope"), None, {})
    with pytest.raises(exception.InvalidError, match="context_dir .* is not a directory"):
        steps_from_commands(["RUN true"], str(tmp_path / "nope"))
