"""Tokens: nothing but public web endpoints is reachable without one; containers are scoped."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys

import pytest

import ketch
from ketch import exception
from ketch.protocol import client as protocol
from ketch.protocol.peer import connect

from apps import scoped


async def _refuse(kind, body):
    raise exception.InvalidError("no")


def raw_request(address: str, credentials: dict[str, str] | None, request: protocol.Request):
    async def go():
        peer = await connect(address, _refuse)
        try:
            if credentials is not None:
                await peer.request("auth", protocol.Auth(**credentials), protocol.Authenticated)
            return await peer.request(request.KIND, request, request.ANSWER)
        finally:
            peer.close()

    return asyncio.run(go())


def test_requests_without_a_good_token_are_refused(server):
    with pytest.raises(exception.AuthError, match="has not authenticated"):
        raw_request(server.address, None, protocol.AppList())
    with pytest.raises(exception.AuthError, match="refused"):
        raw_request(server.address, {"token_id": "ak-nope", "secret": "x"}, protocol.AppList())
    token = json.loads((server.home / "token.json").read_text())
    good = {"token_id": token["token_id"], "secret": token["token_secret"]}
    assert raw_request(server.address, good, protocol.AppList()) == protocol.Apps(apps=[])
    assert stat.S_IMODE(os.stat(server.home / "token.json").st_mode) == 0o600


def test_token_commands_and_revocation(server):
    made = server.cli("token", "new", "--no-save")
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(":", 1) for line in made.stdout.splitlines() if ":" in line)
    token_id, secret = lines["token id"].strip(), lines["token secret"].strip()
    creds = {"token_id": token_id, "secret": secret}
    assert raw_request(server.address, creds, protocol.AppList()) == protocol.Apps(apps=[])
    assert server.cli("token", "revoke", token_id).returncode == 0
    with pytest.raises(exception.AuthError):
        raw_request(server.address, creds, protocol.AppList())
    listed = json.loads(server.cli("token", "list", "--json").stdout)
    assert {t["id"]: bool(t["revoked"]) for t in listed}[token_id] is True


def test_the_servers_own_machine_finds_it_without_set_up(server):
    env = {k: v for k, v in server.env().items() if k != "KETCH_SERVER"}  # only KETCH_HOME
    result = subprocess.run([sys.executable, "-m", "ketch.cli", "token", "info"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert f"server:   {server.address}" in result.stdout
    listed = subprocess.run([sys.executable, "-m", "ketch.cli", "app", "list", "--json"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_a_container_acts_only_within_its_app():
    with scoped.app.run():
        assert scoped.try_request.remote("app_list") == "PermissionDeniedError"
        assert scoped.try_request.remote("usage") == "PermissionDeniedError"
        assert scoped.try_request.remote("logs") == "allowed"  # its own app's
        other = ketch.App.lookup("scoped-other", create_if_missing=True).app_id
        assert scoped.try_request.remote("logs", other) == "PermissionDeniedError"


def test_a_killed_servers_address_is_ignored(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "server.json").write_text(json.dumps({"address": "127.0.0.1:9", "pid": "999999"}))
    env = {**os.environ, "KETCH_HOME": str(home)}
    env.pop("KETCH_SERVER", None)
    info = subprocess.run([sys.executable, "-m", "ketch.cli", "token", "info"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert "(embedded" in info.stdout


def test_a_read_only_token_may_only_make_requests_that_change_nothing(server):
    made = server.cli("token", "new", "--read-only", "--no-save")
    assert made.returncode == 0, made.stderr
    lines = dict(line.split(":", 1) for line in made.stdout.splitlines() if ":" in line)
    creds = {"token_id": lines["token id"].strip(), "secret": lines["token secret"].strip()}
    dicts = protocol.ObjectList(kind="dict")
    before = raw_request(server.address, creds, dicts).objects
    assert isinstance(raw_request(server.address, creds, protocol.AppList()).apps, list)
    for changing in (protocol.AppCreate(name="nope"), protocol.TokenCreate(),
                     protocol.ObjectLookup(kind="dict", name="made", create_if_missing=True),
                     protocol.SecretCreate(name="s", values={"K": "v"})):
        with pytest.raises(exception.PermissionDeniedError, match="read-only token"):
            raw_request(server.address, creds, changing)
    assert raw_request(server.address, creds, dicts).objects == before
    listed = json.loads(server.cli("token", "list", "--json").stdout)
    assert {t["id"]: t["read_only"] for t in listed}[creds["token_id"]] is True
