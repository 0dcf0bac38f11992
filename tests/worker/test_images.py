"""Images built for real: build containers, overlay layers, uv, and the layer cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import ketch
from ketch import config, exception
from ketch.backends.namespace import NamespaceDriver
from ketch.worker.images import Builder, ImageBuildError

from apps import imaged

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
pytestmark = pytest.mark.skipif(problem is not None, reason=f"images need namespaces: {problem}")

BASE = ketch.Image.debian_slim()


@pytest.fixture(scope="module")
def builder(tmp_path_factory) -> Builder:
    return Builder(tmp_path_factory.mktemp("images"))


def build(builder: Builder, image: ketch.Image) -> tuple[list[str], list[str]]:
    logs: list[str] = []
    built = asyncio.run(builder.build(image.to_wire(), logs.append))
    return built.layers, [line for line in logs if line.startswith("building image step")]


def test_an_image_built_once_is_not_rebuilt(builder):
    image = BASE.run_commands("echo one > /opt/one")
    layers, steps = build(builder, image)
    assert steps[-1] == "building image step 2/2: run_commands(echo one > /opt/one)"
    again, steps_again = build(builder, image)
    assert again == layers and steps_again == []
    assert (builder.store.path(layers[-1].split("/")[-2]) / "fs" / "opt" / "one").exists()


def test_changing_one_step_rebuilds_from_that_step_on(builder):
    first = BASE.run_commands("echo a > /opt/a").run_commands("echo b > /opt/b")
    layers_a, _ = build(builder, first)
    second = BASE.run_commands("echo a > /opt/a").run_commands("echo c > /opt/c")
    layers_b, steps = build(builder, second)
    assert layers_b[:2] == layers_a[:2] and layers_b[2] != layers_a[2]
    assert steps == ["building image step 3/3: run_commands(echo c > /opt/c)"]


def test_a_failed_step_names_itself_shows_its_output_and_caches_nothing(builder):
    before = {entry.name for entry in builder.store.root.iterdir()}
    with pytest.raises(ImageBuildError, match=r"(?s)run_commands\(echo oops; exit 3\).*oops"):
        build(builder, BASE.run_commands("echo oops; exit 3"))
    after = {entry.name for entry in builder.store.root.iterdir()}
    assert not [name for name in after - before if not name.endswith(".lock")]
    assert not list(builder.store.root.glob("*.building-*"))


def test_two_builds_of_one_image_at_once_build_it_once(builder):
    image = BASE.run_commands("sleep 0.3; echo once > /opt/once")

    async def both():
        logs: list[list[str]] = [[], []]
        await asyncio.gather(*(builder.build(image.to_wire(), logs[i].append) for i in (0, 1)))
        return logs

    logs = asyncio.run(both())
    building = [line for log in logs for line in log if "run_commands(sleep" in line]
    assert len(building) == 1


def test_a_python_version_that_is_not_here_lists_the_ones_that_are(builder, images_config):
    images_config(offline=True)  # no python:3.99-slim to pull from anywhere
    with pytest.raises(exception.InvalidError, match=r"Python 3\.99 is not installed.*3\.11"):
        build(builder, ketch.Image.debian_slim(python_version="3.99"))


def test_unsupported_bases_and_misplaced_mounts_name_what_to_do_instead():
    with pytest.raises(exception.UnimplementedError, match="mambaorg/micromamba"):
        ketch.Image.micromamba()
    with pytest.raises(exception.InvalidError, match="not a repository name"):
        ketch.Image.from_registry("Python:3.12")
    with pytest.raises(exception.InvalidError, match="add_python='twelve' is not a Python version"):
        ketch.Image.from_registry("python:3.12", add_python="twelve")
    with pytest.raises(exception.InvalidError, match="put mounted files last"):
        BASE.add_local_dir(imaged.DATA, "/data").run_commands("true")


def test_a_function_runs_in_its_image():
    with imaged.app.run():
        out = imaged.inspect_image.remote()
    assert out == {
        "six": "1.16.0",
        "mode": "test",
        "python": "/opt/ketch/venv/bin/python",
        "copied": "copied into a layer",
        "data": ["copied.txt", "visible.txt"],
    }


def test_imports_may_fail_locally():
    with BASE.imports():
        import ketch_surely_not_installed  # noqa: F401


def test_images_need_the_namespace_runtime():
    with pytest.raises(exception.InvalidError, match="images need the namespace runtime"):
        with imaged.wrong_app.run():
            pass


def test_local_python_source_adds_a_packages_python_files_alone(builder, tmp_path, monkeypatch):
    package = tmp_path / "localpkg"
    (package / "sub").mkdir(parents=True)
    for name in ("__init__.py", "sub/mod.py", "notes.txt", "sub/data.json"):
        (package / name).write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    built = asyncio.run(builder.build(BASE.add_local_python_source("localpkg").to_wire(),
                                      lambda line: None))
    source, target, read_only = built.binds[-1]
    assert target == "/root/localpkg" and read_only and "/root" in built.python_path
    files = sorted(str(p.relative_to(source)) for p in Path(source).rglob("*") if p.is_file())
    assert files == ["__init__.py", "sub/mod.py"]
