"""Images pulled from a real registry on 127.0.0.1 (Debian's docker-registry), pushed by the
tests themselves with skopeo: tags and digests, authentication, whiteouts, architectures, and
build steps and functions on top of a pulled image. Nothing reaches beyond this machine."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
import registry
from sandbox_runtimes import RUNTIMES

import ketch
from ketch import config, exception
from ketch.backends.namespace import NamespaceDriver
from ketch.worker.images import Builder, ImageBuildError

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
missing = registry.missing_binaries("docker-registry", "skopeo", "mmdebstrap", "htpasswd")
pytestmark = [
    pytest.mark.skipif(problem is not None, reason=f"images need namespaces: {problem}"),
    pytest.mark.skipif(bool(missing), reason=f"missing {', '.join(missing)} (./dev.sh test "
                                             "installs them)"),
    pytest.mark.timeout(600),
]
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
       "FROM_IMAGE=pulled"]


@pytest.fixture(scope="module")
def open_registry(tmp_path_factory):
    with registry.start_registry(tmp_path_factory.mktemp("registry")) as reg:
        yield reg


@pytest.fixture(scope="module")
def debian(open_registry) -> str:
    """A Debian bookworm image with Python 3.11, tagged, with an environment and a workdir."""
    registry.push_image(open_registry, "debian-python", "bookworm", [registry.base_rootfs()],
                        config={"Env": ENV, "WorkingDir": "/srv", "User": "nobody"})
    return open_registry.ref("debian-python", "bookworm")


@pytest.fixture
def builder(tmp_path) -> Builder:
    return Builder(tmp_path / "images")


def build(builder: Builder, image: ketch.Image, secret_env: dict[str, str] | None = None):
    steps = image.to_wire()
    if secret_env is not None:
        steps[0] = {**steps[0], "secret_env": secret_env}
    logs: list[str] = []
    built = asyncio.run(builder.build(steps, logs.append))
    return built, logs


def test_a_pulled_image_is_the_whole_root_with_its_config_and_a_venv(builder, debian):
    image = ketch.Image.from_registry(debian).run_commands(
        "test -f /etc/debian_version",  # the image's own files, not the host's
        "test ! -e /work", "test \"$FROM_IMAGE\" = pulled", "test \"$(pwd)\" = /srv",
        "python -c 'import sys, cloudpickle; assert sys.version_info[:2] == (3, 11)'")
    built, logs = build(builder, image)
    assert built.rooted and built.env["FROM_IMAGE"] == "pulled" and built.workdir == "/srv"
    assert built.user == "nobody" and built.python == "/opt/ketch/venv/bin/python"
    assert any(line.startswith(f"pulled {debian.split('/', 1)[0]}") for line in logs), logs
    again, logs = build(builder, image)  # the tag's record and the layers are reused
    assert again.layers == built.layers and not any("pull" in line for line in logs), logs


def test_a_digest_pins_the_image_and_a_wrong_one_is_refused(builder, open_registry, debian):
    digest = registry.push_image(open_registry, "pinned", "v1", [registry.base_rootfs()],
                                 config={"Env": ENV})
    built, _ = build(builder, ketch.Image.from_registry(open_registry.ref("pinned", digest)))
    assert built.digest == digest
    wrong = "sha256:" + "0" * 64
    with pytest.raises(exception.NotFoundError, match="does not exist"):
        build(builder, ketch.Image.from_registry(open_registry.ref("pinned", wrong)))


def test_whiteouts_and_opaque_folders_delete_what_lower_layers_have(builder, open_registry,
                                                                   debian):
    lower = registry.layer({"opt/data/old": "old", "opt/keep": "keep", "opt/gone": "gone"})
    upper = registry.layer({registry.whiteout("opt/gone"): None,
                            registry.opaque("opt/data"): None, "opt/data/new": "new",
                            registry.whiteout("etc/issue"): None})
    registry.push_image(open_registry, "layered", "v1",
                        [registry.base_rootfs(), lower, upper], config={"Env": ENV})
    image = ketch.Image.from_registry(open_registry.ref("layered", "v1")).run_commands(
        "test ! -e /opt/gone", "test -f /opt/keep", "test ! -e /opt/data/old",
        "test \"$(cat /opt/data/new)\" = new", "test ! -e /etc/issue")
    build(builder, image)


def test_a_second_image_downloads_only_the_layers_it_does_not_share(builder, open_registry,
                                                                    debian):
    build(builder, ketch.Image.from_registry(debian))
    registry.push_image(open_registry, "derived", "v1",
                        [registry.base_rootfs(), registry.layer({"opt/extra": "x"})],
                        config={"Env": ENV})
    _, logs = build(builder, ketch.Image.from_registry(open_registry.ref("derived", "v1")))
    assert any("1 of its 2 layers are here already" in line for line in logs), logs
    assert any("pulled" in line and ": 1 layers" in line for line in logs), logs


def test_a_tag_that_does_not_exist_is_named(builder, open_registry):
    with pytest.raises(exception.NotFoundError, match=r"debian-python:nope does not exist"):
        build(builder, ketch.Image.from_registry(open_registry.ref("debian-python", "nope")))


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_a_private_registry_takes_the_secrets_credentials_and_refuses_others(
        builder, tmp_path, auth):
    with registry.start_registry(tmp_path / "private", auth=auth) as private:
        registry.push_image(private, "secret-app", "v1", [registry.layer({"bin/sh": "x"})],
                            config={"Env": ENV})
        image = ketch.Image.from_registry(private.ref("secret-app", "v1"))
        base = ketch.Image([image.steps[0]])  # the pull alone: this image has no Python
        with pytest.raises(exception.InvalidError, match="needs credentials"):
            build(builder, base)
        with pytest.raises(exception.InvalidError, match="refused the credentials"):
            build(builder, base, {"REGISTRY_USERNAME": private.username,
                                  "REGISTRY_PASSWORD": "wrong"})
        with pytest.raises(exception.InvalidError, match="lacks REGISTRY_PASSWORD"):
            build(builder, base, {"REGISTRY_USERNAME": private.username})
        built, _ = build(builder, base, {"REGISTRY_USERNAME": private.username,
                                         "REGISTRY_PASSWORD": private.password})
        assert built.rooted and (Path(built.layers[0]) / "bin" / "sh").read_text() == "x"


def test_an_image_for_another_architecture_is_refused(builder, open_registry):
    other = registry.other_arch()
    registry.push_image(open_registry, "foreign", "v1", [registry.layer({"a": "b"})],
                        architecture=other)
    with pytest.raises(exception.InvalidError, match=f"built for linux/{other}"):
        build(builder, ketch.Image([ketch.Image.from_registry(
            open_registry.ref("foreign", "v1")).steps[0]]))
    registry.push_index(open_registry, "multi", "v1", {
        registry.machine_arch(): ([registry.layer({"arch": "mine"})], None),
        other: ([registry.layer({"arch": "other"})], None)})
    built, _ = build(builder, ketch.Image([ketch.Image.from_registry(
        open_registry.ref("multi", "v1")).steps[0]]))
    assert (Path(built.layers[0]) / "arch").read_text() == "mine"
    registry.push_index(open_registry, "only-other", "v1", {
        other: ([registry.layer({"arch": "other"})], None)})
    with pytest.raises(exception.InvalidError, match=f"no build for linux/{registry.machine_arch()}"):
        build(builder, ketch.Image([ketch.Image.from_registry(
            open_registry.ref("only-other", "v1")).steps[0]]))


def test_a_hostile_layer_writes_nothing_outside_its_folder(builder, open_registry, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = registry.layer({"escape": ("symlink", str(outside)), "escape/pwned": "x",
                              "../../up": "x"}, parents=False)
    registry.push_image(open_registry, "hostile", "v1", [hostile])
    try:
        build(builder, ketch.Image([ketch.Image.from_registry(
            open_registry.ref("hostile", "v1")).steps[0]]))
    except exception.InvalidError:
        pass  # refusing the layer is as good as unpacking it harmlessly
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "images" / "up").exists() and not (tmp_path / "up").exists()


def test_a_corrupted_blob_is_refused_and_leaves_nothing_half_unpacked(builder, tmp_path):
    with registry.start_registry(tmp_path / "corrupting") as reg:
        registry.push_image(reg, "corrupt", "v1", [registry.layer({"opt/file": "intact" * 1000})])
        for blob in (reg.root / "storage").rglob("data"):
            content = blob.read_bytes()
            if content[:2] == b"\x1f\x8b":  # the gzip layer: one byte flipped in the middle
                blob.write_bytes(content[:40] + bytes([content[40] ^ 0xFF]) + content[41:])
        with pytest.raises(exception.InvalidError, match="other bytes than its digest|unpacked"):
            build(builder, ketch.Image([ketch.Image.from_registry(
                reg.ref("corrupt", "v1")).steps[0]]))
    assert not [p.name for p in builder.store.root.iterdir()
                if (p / "meta.json").exists() or ".building-" in p.name]


def test_offline_uses_what_is_here_and_refuses_the_rest(builder, open_registry, debian,
                                                       images_config):
    build(builder, ketch.Image.from_registry(debian))
    images_config(offline=True)
    build(builder, ketch.Image.from_registry(debian))
    with pytest.raises(exception.InvalidError, match="offline = true"):
        build(builder, ketch.Image.from_registry(open_registry.ref("never-pulled", "v1")))


def test_a_failing_step_on_a_pulled_image_names_itself(builder, debian):
    with pytest.raises(ImageBuildError, match=r"run_commands\(false\)"):
        build(builder, ketch.Image.from_registry(debian).run_commands("false"))


def test_an_image_without_python_is_told_to_add_it(builder, open_registry, debian):
    registry.push_image(open_registry, "no-python", "v1",
                        [registry.base_rootfs(), registry.layer({
                            registry.whiteout("usr/bin/python3"): None})],
                        config={"Env": ENV})
    with pytest.raises(ImageBuildError, match="add_python="):
        build(builder, ketch.Image.from_registry(open_registry.ref("no-python", "v1")))


def test_a_function_runs_in_a_pulled_image_with_its_files_env_and_python(debian, monkeypatch):
    monkeypatch.setenv("KETCH_TEST_PULLED_IMAGE", debian)
    import importlib

    from apps import pulled

    pulled = importlib.reload(pulled)
    with pulled.app.run():
        out = pulled.inspect.remote()
    assert out == {"python": [3, 11], "executable": "/opt/ketch/venv/bin/python",
                   "six": "1.16.0", "from_image": "pulled", "added": "by-ketch", "cwd": "/srv",
                   "os": "bookworm", "host_sdk_seen": False}


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_sandbox_runs_in_a_pulled_image(debian, runtime):
    app = ketch.App.lookup("pulled-sandbox", create_if_missing=True)
    sb = ketch.Sandbox.create("sh", "-c", "cat /etc/debian_version; echo $FROM_IMAGE; "
                              "test ! -e /work && echo no-host", app=app, runtime=runtime,
                              image=ketch.Image.from_registry(debian), timeout=60)
    sb.wait()
    lines = sb.stdout.read().split()
    assert lines[0].startswith("12.") and lines[1:] == ["pulled", "no-host"], lines
    assert sb.returncode == 0


def test_a_dockerfile_builds_on_its_from_with_run_copy_env_and_workdir(builder, debian,
                                                                       tmp_path):
    context = tmp_path / "context"
    (context / "app").mkdir(parents=True)
    (context / "app" / "main.py").write_text("print('hello')\n")
    (context / "app" / "notes.log").write_text("left out\n")
    (context / ".dockerignore").write_text("**/*.log\n")
    (context / "Dockerfile").write_text(
        "ARG BASE\n"
        "FROM $BASE\n"
        "ARG GREETING=hi\n"
        "ENV PATH=/opt/tools:$PATH \\\n    MODE=docker\n"
        "RUN mkdir -p /opt/tools && printf '#!/bin/sh\\necho tool-$GREETING\\n' > /opt/tools/tool"
        " && chmod +x /opt/tools/tool\n"
        "WORKDIR /app\n"
        "COPY app/ ./\n"
        "RUN test \"$(tool)\" = tool-hi && test -f /app/main.py && test ! -e /app/notes.log"
        " && test \"$(pwd)\" = /app && test \"$MODE\" = docker\n"
        "CMD [\"python3\", \"main.py\"]\n")
    image = ketch.Image.from_dockerfile(str(context / "Dockerfile"),
                                        build_args={"BASE": debian})
    built, _ = build(builder, image)
    assert built.workdir == "/app" and built.env["MODE"] == "docker"
    assert built.env["PATH"].startswith("/opt/tools:/usr/local/sbin:")


def test_a_dockerfile_ketch_cannot_build_is_refused_at_its_line(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.12 AS build\nRUN true\n"
                                         "FROM python:3.12-slim\nCOPY --from=build /x /x\n")
    with pytest.raises(exception.InvalidError, match=r"line 3"):
        ketch.Image.from_dockerfile(str(tmp_path / "Dockerfile"))


def test_an_entrypoint_runs_before_the_functions_container(open_registry, debian, monkeypatch):
    script = "#!/bin/sh\nexport FROM_ENTRYPOINT=yes\nexec \"$@\"\n"
    registry.push_image(open_registry, "with-entrypoint", "v1", [
        registry.base_rootfs(),
        registry.layer({"usr/local/bin/entry.sh": ("file", script, 0o755)})],
        config={"Env": ENV, "Entrypoint": ["/usr/local/bin/entry.sh"]})
    monkeypatch.setenv("KETCH_TEST_PULLED_IMAGE", open_registry.ref("with-entrypoint", "v1"))
    import importlib

    from apps import pulled

    pulled = importlib.reload(pulled)
    with pulled.app.run():
        assert pulled.environment.remote("FROM_ENTRYPOINT") == "yes"


def test_add_python_puts_a_standalone_python_into_an_image_without_one(
        builder, open_registry, debian, tmp_path, images_config):
    import standalone_python

    reason = standalone_python.unusable()
    if reason:
        pytest.skip(reason)
    archive = standalone_python.make_build(tmp_path)
    server = standalone_python.Server(tmp_path)
    try:
        listing = standalone_python.downloads_json(archive, server, tmp_path)
        images_config(python_downloads_json=str(listing))
        registry.push_image(open_registry, "no-python", "v2", [registry.base_rootfs(),
                            registry.layer({registry.whiteout("usr/bin/python3"): None,
                                            registry.whiteout("usr/bin/python3.11"): None})],
                            config={"Env": ENV})
        image = ketch.Image.from_registry(open_registry.ref("no-python", "v2"),
                                          add_python=standalone_python.MINOR).run_commands(
            "test ! -e /usr/bin/python3",
            "python -c 'import sys, ssl, sqlite3; assert sys.base_prefix == \"/usr/local\"'",
            "test \"$(readlink -f /opt/ketch/venv/bin/python)\" = "
            f"/usr/local/bin/python{standalone_python.MINOR}")
        build(builder, image)
    finally:
        server.close()


def test_debian_slim_can_come_from_the_registry_mirror_on_every_node(
        builder, open_registry, images_config):
    registry.push_image(open_registry, "library/python", "3.13-slim",
                        [registry.base_rootfs("trixie")], config={"Env": ENV})
    images_config(registry_mirror=open_registry.url, debian_slim="registry")
    built, logs = build(builder, ketch.Image.debian_slim(python_version="3.13").run_commands(
        "python -c 'import sys; assert sys.version_info[:2] == (3, 13)'",
        "grep -q trixie /etc/os-release"))
    assert built.rooted and any("uses the registry image python:3.13-slim" in line
                                for line in logs), logs


def test_debian_slim_of_a_python_this_machine_lacks_is_pulled(builder, open_registry, debian,
                                                              images_config):
    registry.push_image(open_registry, "library/python", "3.99-slim",
                        [registry.base_rootfs()], config={"Env": ENV})
    images_config(registry_mirror=open_registry.url)
    built, logs = build(builder, ketch.Image.debian_slim(python_version="3.99"))
    assert built.rooted and any("uses the registry image python:3.99-slim" in line
                                for line in logs), logs


def test_a_full_disk_is_named_and_leaves_nothing_half_unpacked(open_registry, debian,
                                                               tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(small)], check=True)
    try:
        builder = Builder(small / "images")
        with pytest.raises(exception.ResourceExhaustedError, match=r"(?s)debian-python.*is full"):
            build(builder, ketch.Image([ketch.Image.from_registry(debian).steps[0]]))
        assert not [p.name for p in builder.store.root.iterdir()
                    if (p / "meta.json").exists() or ".building-" in p.name]
    finally:
        subprocess.run(["umount", "-l", str(small)], check=True)


MODAL_PROGRAM = '''
import modal

app = modal.App("registry-example")
image = (modal.Image.from_registry("python:3.11-slim")
         .pip_install("six==1.16.0")
         .env({"GREETING": "hello"}))


@app.function(image=image)
def describe():
    import os
    import platform

    import six
    with open("/etc/debian_version") as f:
        debian = f.read().strip().split(".")[0]
    return f"python {platform.python_version()[:4]} {os.environ['GREETING']} six {six.__version__} debian {debian}"


@app.local_entrypoint()
def main():
    print(describe.remote())
'''


def test_a_modal_program_naming_a_docker_hub_image_runs_through_the_mirror(
        open_registry, debian, tmp_path, images_config):
    registry.push_image(open_registry, "library/python", "3.11-slim", [registry.base_rootfs()],
                        config={"Env": ENV})
    images_config(registry_mirror=open_registry.url)
    (tmp_path / "registry_example.py").write_text(MODAL_PROGRAM)
    env = {k: v for k, v in os.environ.items() if k != "KETCH_SERVER"}
    result = subprocess.run([sys.executable, "-m", "ketch.cli", "run", "registry_example.py"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "python 3.11 hello six 1.16.0 debian 12" in result.stdout.splitlines(), result.stdout
    assert "docker.io/library/python:3.11-slim" in result.stderr  # the pull's log


def test_a_private_image_is_pulled_with_the_secret_named_at_decoration(tmp_path):
    with registry.start_registry(tmp_path / "private", auth="token") as private:
        registry.push_image(private, "private-python", "v1", [registry.base_rootfs()],
                            config={"Env": [*ENV[:2], "FROM_IMAGE=private"]})
        secret = ketch.Secret.from_dict({"REGISTRY_USERNAME": private.username,
                                         "REGISTRY_PASSWORD": private.password})
        image = ketch.Image.from_registry(private.ref("private-python", "v1"), secret=secret)
        app = ketch.App.lookup("private-pull", create_if_missing=True)
        sb = ketch.Sandbox.create("sh", "-c", "echo $FROM_IMAGE", app=app, image=image,
                                  timeout=60)
        sb.wait()
        assert sb.stdout.read().split() == ["private"]
        wrong = ketch.Image.from_registry(private.ref("private-python", "v1"),
                                          secret=ketch.Secret.from_dict({
                                              "REGISTRY_USERNAME": private.username,
                                              "REGISTRY_PASSWORD": "wrong"}))
        with pytest.raises(exception.InvalidError, match="refused the credentials"):
            ketch.Sandbox.create("true", app=app, image=wrong, timeout=60)


def test_a_snapshot_of_a_sandbox_on_a_pulled_image_keeps_the_image_beneath(debian):
    app = ketch.App.lookup("pulled-snapshot", create_if_missing=True)
    sb = ketch.Sandbox.create(app=app, image=ketch.Image.from_registry(debian), timeout=60)
    assert sb.exec("sh", "-c", "echo kept > /tmp/made-here").wait() == 0
    image = sb.snapshot_filesystem()
    sb.terminate()
    again = ketch.Sandbox.create("sh", "-c", "cat /tmp/made-here /etc/debian_version; "
                                 "test ! -e /work && echo no-host", app=app, image=image,
                                 timeout=60)
    again.wait()
    lines = again.stdout.read().split()
    assert lines[0] == "kept" and lines[1].startswith("12.") and lines[2] == "no-host", lines


def test_gcp_artifact_registry_sends_the_service_accounts_key(builder, tmp_path):
    key = '{"type": "service_account", "private_key": "-----BEGIN..."}'
    with registry.start_registry(tmp_path / "gcp", auth="basic", username="_json_key",
                                 password=key) as gcp:
        registry.push_image(gcp, "project/repo/app", "v1", [registry.layer({"gcp": "yes"})])
        image = ketch.Image.from_gcp_artifact_registry(gcp.ref("project/repo/app", "v1"))
        built, _ = build(builder, ketch.Image([image.steps[0]]), {"SERVICE_ACCOUNT_JSON": key})
        assert (Path(built.layers[0]) / "gcp").read_text() == "yes"


def test_aws_ecr_names_the_keys_it_needs(builder):
    image = ketch.Image.from_aws_ecr("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:v1")
    with pytest.raises(exception.InvalidError, match="lacks AWS_SECRET_ACCESS_KEY, AWS_REGION"):
        build(builder, ketch.Image([image.steps[0]]), {"AWS_ACCESS_KEY_ID": "AKIA..."})
