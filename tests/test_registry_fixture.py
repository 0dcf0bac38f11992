"""The test registry helpers (tests/registry.py) checked against the real registry with skopeo and
plain HTTP, not with ketch: what ketch's image pulls are tested against must itself be right."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import registry


def needs(*binaries: str) -> pytest.MarkDecorator:
    missing = registry.missing_binaries(*binaries)
    return pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} on PATH")


needs_registry = needs("docker-registry", "skopeo")


def skopeo(*args: str, creds: str | None = None) -> subprocess.CompletedProcess[str]:
    """``skopeo inspect`` (or another subcommand) over plain HTTP, anonymous unless ``creds``."""
    auth = ["--creds", creds] if creds else ["--no-creds"]
    command = ["skopeo", args[0], "--tls-verify=false", *auth, *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def inspect(reg: registry.Registry, ref: str, *flags: str, creds: str | None = None) -> Any:
    result = skopeo("inspect", *flags, f"docker://{reg.host}/{ref}", creds=creds)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def members(tar: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return {m.name: m for m in t.getmembers()}


def test_layer_spec_writes_files_dirs_links_modes_and_whiteouts() -> None:
    tar = registry.layer(
        {
            "etc/motd": "hello\n",
            "usr/bin/tool": ("file", b"#!/bin/sh\n", 0o755),
            "var/secret": ("dir", 0o700, 1000, 1000),
            "empty": None,
            "etc/link": ("symlink", "motd"),
            "etc/hard": ("hardlink", "etc/motd"),
            registry.whiteout("opt/old"): None,
            registry.opaque("srv"): "",
            "../escape": "x",
        }
    )
    m = members(tar)
    assert list(m) == [
        "etc", "etc/motd", "usr", "usr/bin", "usr/bin/tool", "var", "var/secret", "empty",
        "etc/link", "etc/hard", "opt", "opt/.wh.old", "srv", "srv/.wh..wh..opq", "../escape",
    ]  # fmt: skip
    assert m["etc"].isdir() and m["etc"].mode == 0o755
    assert m["etc/motd"].isfile() and m["etc/motd"].mode == 0o644 and m["etc/motd"].size == 6
    assert m["usr/bin/tool"].mode == 0o755
    assert m["var/secret"].isdir() and m["var/secret"].mode == 0o700
    assert (m["var/secret"].uid, m["var/secret"].gid) == (1000, 1000)
    assert m["empty"].isdir()
    assert m["etc/link"].issym() and m["etc/link"].linkname == "motd"
    assert m["etc/hard"].islnk() and m["etc/hard"].linkname == "etc/motd"
    assert m["opt/.wh.old"].isfile() and m["opt/.wh.old"].size == 0
    assert m["srv/.wh..wh..opq"].isfile() and m["srv/.wh..wh..opq"].size == 0
    assert all(i.mtime == 0 and i.uid in (0, 1000) for i in m.values())
    # The same spec gives the same bytes, so the same digests.
    assert registry.layer({"a": "b"}) == registry.layer({"a": "b"})
    assert list(members(registry.layer({"x/y": "z"}, parents=False))) == ["x/y"]
    with pytest.raises(ValueError):
        registry.layer({registry.whiteout("a"): "not empty"})


@needs_registry
def test_a_pushed_image_has_its_digest_layers_and_config(tmp_path: Path) -> None:
    bottom = registry.layer({"app/main.py": "print('hi')\n", "app/data/": None})
    top = registry.layer({registry.whiteout("app/data"): None, "app/extra": b"\x00\x01"})
    config = {
        "Env": ["PATH=/usr/bin:/bin", "GREETING=hi"],
        "WorkingDir": "/app",
        "Entrypoint": ["python3"],
        "Cmd": ["main.py"],
        "User": "1000:1000",
    }
    with registry.start_registry(tmp_path) as reg:
        digest = registry.push_image(reg, "team/app", "v1", [bottom, top], config)
        assert digest.startswith("sha256:")
        shown = inspect(reg, "team/app:v1")
        assert shown["Digest"] == digest
        assert shown["Env"] == config["Env"]
        assert shown["Architecture"] == registry.machine_arch() and shown["Os"] == "linux"
        assert len(shown["Layers"]) == 2
        raw = inspect(reg, "team/app:v1", "--raw")
        assert raw["mediaType"] == registry.MANIFEST
        assert [layer["mediaType"] for layer in raw["layers"]] == [
            registry.LAYER_MEDIA_TYPES["gzip"]
        ] * 2
        image_config = inspect(reg, "team/app:v1", "--config")
        assert image_config["config"] == config
        assert image_config["rootfs"]["diff_ids"] == [
            "sha256:" + hashlib.sha256(t).hexdigest() for t in (bottom, top)
        ]
        # The registry serves the blobs: gzip of exactly the tars given, and by digest too.
        for descriptor, tar in zip(raw["layers"], (bottom, top)):
            blob = httpx.get(f"{reg.url}/v2/team/app/blobs/{descriptor['digest']}")
            assert blob.status_code == 200 and gzip.decompress(blob.content) == tar
        assert inspect(reg, f"team/app@{digest}")["Digest"] == digest
        # The same image pushed again has the same digest, its layers given as files too.
        (tmp_path / "bottom.tar").write_bytes(bottom)
        again = registry.push_image(reg, "team/app", "v2", [tmp_path / "bottom.tar", top], config)
        assert again == digest


@needs_registry
@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_other_layer_compressions(tmp_path: Path, compression: str) -> None:
    if compression == "zstd" and registry.missing_binaries("zstd"):
        pytest.skip("needs zstd on PATH")
    tar = registry.layer({"f": "x" * 1000})
    with registry.start_registry(tmp_path) as reg:
        digest = registry.push_image(reg, "c", "t", [tar], compression=compression)
        raw = inspect(reg, "c:t", "--raw")
        assert raw["layers"][0]["mediaType"] == registry.LAYER_MEDIA_TYPES[compression]
        blob = httpx.get(f"{reg.url}/v2/c/blobs/{raw['layers'][0]['digest']}").content
        assert blob.startswith(b"\x28\xb5\x2f\xfd") if compression == "zstd" else blob == tar
        assert inspect(reg, "c:t")["Digest"] == digest


@needs("docker-registry", "skopeo", "htpasswd")
def test_basic_auth_refuses_wrong_credentials(tmp_path: Path) -> None:
    with registry.start_registry(tmp_path, auth="basic") as reg:
        assert reg.username and reg.password
        digest = registry.push_image(reg, "private", "v1", [registry.layer({"f": "1"})])
        ref = f"docker://{reg.host}/private:v1"
        assert skopeo("inspect", ref).returncode != 0
        wrong = skopeo("inspect", ref, creds=f"{reg.username}:not-{reg.password}")
        assert wrong.returncode != 0 and "unauthorized" in wrong.stderr.lower()
        assert inspect(reg, "private:v1", creds=reg.creds)["Digest"] == digest
        assert httpx.get(f"{reg.url}/v2/").status_code == 401
        assert httpx.get(f"{reg.url}/v2/", auth=(reg.username, reg.password)).status_code == 200


@needs_registry
def test_token_auth_refuses_wrong_credentials(tmp_path: Path) -> None:
    with registry.start_registry(tmp_path, auth="token") as reg:
        assert reg.username and reg.password
        digest = registry.push_image(reg, "private/app", "v1", [registry.layer({"f": "1"})])
        ref = f"docker://{reg.host}/private/app:v1"
        assert skopeo("inspect", ref).returncode != 0
        assert skopeo("inspect", ref, creds=f"{reg.username}:wrong").returncode != 0
        assert skopeo("inspect", ref, creds=f"someone:{reg.password}").returncode != 0
        assert inspect(reg, "private/app:v1", creds=reg.creds)["Digest"] == digest
        assert {r.status for r in reg.token_requests} == {200, 401}
        assert any(r.username == reg.username and r.status == 200 for r in reg.token_requests)

        # The protocol as a client sees it: a challenge, a token for the right user, a pull.
        challenge = httpx.get(f"{reg.url}/v2/private/app/manifests/v1")
        assert challenge.status_code == 401
        header = challenge.headers["www-authenticate"]
        assert header.startswith("Bearer ")
        params = dict(p.split("=", 1) for p in header.removeprefix("Bearer ").split(","))
        params = {k: v.strip('"') for k, v in params.items()}
        assert params["service"] == registry.TOKEN_SERVICE
        assert params["scope"] == "repository:private/app:pull"
        query = {"service": params["service"], "scope": params["scope"]}
        realm = params["realm"]
        assert httpx.get(realm, params=query).status_code == 401
        assert httpx.get(realm, params=query, auth=(reg.username, "wrong")).status_code == 401
        answer = httpx.get(realm, params=query, auth=(reg.username, reg.password))
        assert answer.status_code == 200
        token = answer.json()["token"]
        manifest = httpx.get(
            f"{reg.url}/v2/private/app/manifests/v1",
            headers={"Authorization": f"Bearer {token}", "Accept": registry.MANIFEST},
        )
        assert manifest.status_code == 200
        assert "sha256:" + hashlib.sha256(manifest.content).hexdigest() == digest
        # A token for another repository opens nothing here.
        other = httpx.get(
            realm,
            params={"service": params["service"], "scope": "repository:other:pull"},
            auth=(reg.username, reg.password),
        ).json()["token"]
        denied = httpx.get(
            f"{reg.url}/v2/private/app/manifests/v1", headers={"Authorization": f"Bearer {other}"}
        )
        assert denied.status_code == 401
        # The OAuth2 password grant gives the same.
        form = {"grant_type": "password", "username": reg.username, "password": reg.password}
        form |= query
        assert httpx.post(realm, data=form).status_code == 200
        assert httpx.post(realm, data=form | {"password": "wrong"}).status_code == 401


@needs_registry
def test_token_auth_with_anonymous_pull_refuses_anonymous_push(tmp_path: Path) -> None:
    with registry.start_registry(tmp_path, auth="token", anonymous_pull=True) as reg:
        tar = registry.layer({"f": "1"})
        digest = registry.push_image(reg, "public", "v1", [tar])
        assert inspect(reg, "public:v1")["Digest"] == digest
        anonymous = dataclasses.replace(reg, username=None, password=None)
        with pytest.raises(RuntimeError, match="skopeo copy"):
            registry.push_image(anonymous, "public", "v2", [tar])
        wrong = skopeo("inspect", f"docker://{reg.host}/public:v1", creds=f"{reg.username}:x")
        assert wrong.returncode != 0


@needs_registry
def test_an_index_lists_two_architectures(tmp_path: Path) -> None:
    here, there = registry.machine_arch(), registry.other_arch()
    with registry.start_registry(tmp_path) as reg:
        index_digest = registry.push_index(
            reg,
            "multi",
            "latest",
            {
                here: ([registry.layer({"arch": here})], {"Env": [f"ARCH={here}"]}),
                there: ([registry.layer({"arch": there})], {"Env": [f"ARCH={there}"]}),
            },
        )
        raw = inspect(reg, "multi:latest", "--raw")
        assert raw["mediaType"] == registry.INDEX
        platforms = {m["platform"]["architecture"]: m for m in raw["manifests"]}
        assert set(platforms) == {here, there}
        assert all(m["platform"]["os"] == "linux" for m in raw["manifests"])
        # skopeo, like a pull, picks this machine's image out of the index (its Digest is the
        # index's, the rest the image's).
        shown = inspect(reg, "multi:latest")
        assert shown["Digest"] == index_digest and shown["Env"] == [f"ARCH={here}"]
        assert inspect(reg, f"multi@{platforms[here]['digest']}")["Env"] == [f"ARCH={here}"]
        result = subprocess.run(
            ["skopeo", "--override-arch", there, "inspect", "--tls-verify=false", "--no-creds",
             f"docker://{reg.host}/multi:latest"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["Env"] == [f"ARCH={there}"]
        assert inspect(reg, f"multi@{index_digest}", "--raw") == raw

        # An image only for another architecture says so in its config.
        registry.push_image(reg, "foreign", "v1", [registry.layer({"f": "1"})], architecture=there)
        assert inspect(reg, "foreign:v1", "--config")["architecture"] == there


@needs("mmdebstrap")
@pytest.mark.timeout(600)
def test_base_rootfs_is_a_debian_with_python(tmp_path: Path) -> None:
    rootfs = registry.base_rootfs("bookworm")
    assert rootfs == registry.cache_dir() / "rootfs-bookworm.tar"
    assert registry.base_rootfs("bookworm") == rootfs  # cached
    with tarfile.open(rootfs) as tar:
        m = {name.removeprefix("./"): info for name, info in ((i.name, i) for i in tar)}
    assert m["usr/bin/python3.11"].isfile()
    assert m["bin"].issym() and m["bin"].linkname == "usr/bin"  # merged /usr
    assert "usr/share/perl" not in m  # no usrmerge and the perl it brings
    assert not any(n.startswith("usr/share/man/") for n in m)
    assert not list(registry.cache_dir().glob("rootfs-bookworm.tmp-*"))
    if os.geteuid() == 0 and not registry.missing_binaries("chroot", "tar"):
        root = tmp_path / "root"
        root.mkdir()
        subprocess.run(["tar", "-xf", str(rootfs), "-C", str(root)], check=True)
        ran = subprocess.run(
            ["chroot", str(root), "/usr/bin/python3", "-c", "import sys, json; print(sys.version)"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert ran.returncode == 0 and ran.stdout.startswith("3.11."), ran.stderr
