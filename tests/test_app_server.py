"""``@app.server()`` and `ketch.Server` (Modal's servers): a class's HTTP server served through
the gateway, found by name once deployed, with its logs; bad classes refused at decoration."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from server.server_process import ServerProcess, free_port

import ketch
from ketch import exception

PROGRAMS = Path(__file__).parent / "compat" / "programs"
ROOT = Path(__file__).resolve().parents[1]


def test_a_server_and_the_logs_api_in_a_program_run_as_users_run_it():
    env = {**os.environ, "SERVER_PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "ketch.cli", "run", "-q", str(PROGRAMS / "server_logs.py")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "served hello from the server", "server logs True", "request logged True", "shout HI",
        "function logs ['shouting hi\\n']", "call stream ['shouting there\\n']",
        "call fetch ['shouting there\\n']", "app logs True", "nothing before []"]


FROM_NAME = """
import json, ketch
from ketch.client import send_blocking
from ketch.protocol import client as protocol
server = ketch.Server.from_name("served", "Greeter")
made = send_blocking(protocol.TokenCreate(kind="proxy"))
token = {"token_id": made.token_id, "token_secret": made.token_secret}
settings = server.update_autoscaler(min_containers=1, target_concurrency=2.5)
print(json.dumps({"url": server.get_url(), "id": server.object_id, "token": token,
                  "settings": [settings.min_containers, settings.target_concurrency]}))
"""
LOGS = ("import ketch; s = ketch.Server.from_name('served', 'Greeter');"
        "print([e.message for e in s.logs.tail(50) if 'listening' in e.message])")


def test_a_deployed_server_is_found_by_name_and_needs_a_proxy_token(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVER_PORT", str(free_port()))  # the server's containers inherit it
    server = ServerProcess(tmp_path)
    server.start()
    try:
        deployed = server.cli("deploy", "apps/served.py")
        assert deployed.returncode == 0, deployed.stderr
        assert "Greeter" in deployed.stdout
        found = json.loads(server.client(FROM_NAME))
        assert found["url"].endswith("/served-greeter") and found["id"].startswith("fu-")
        assert found["settings"] == [1, 3]  # 2.5 requests per container: aim for 3
        assert httpx.get(found["url"] + "/x", timeout=60).status_code == 401
        token = found["token"]
        headers = {"Modal-Key": token["token_id"], "Modal-Secret": token["token_secret"]}
        answer = httpx.get(found["url"] + "/x?y=1", headers=headers, timeout=60)
        assert answer.status_code == 200 and answer.text == "hello at /x?y=1"
        assert server.client(LOGS).strip() == "['greeter listening\\n']"
    finally:
        server.stop()


def _server_class(**members):
    return type("Bad", (), {"__module__": __name__, **members})


@pytest.mark.parametrize(("members", "message"), [
    ({}, "needs an @ketch.enter() method"),
    ({"start": ketch.enter()(lambda self: None), "run": ketch.method()(lambda self: None)},
     "cannot have @ketch.method()"),
    ({"start": ketch.enter()(lambda self: None), "size": ketch.parameter(default=1)},
     "cannot use ketch.parameter()"),
    ({"start": ketch.enter()(lambda self: None), "__init__": lambda self: None},
     "cannot have its own __init__"),
    ({"start": ketch.enter(snap=True)(lambda self: None)}, "needs enable_memory_snapshot=True"),
])
def test_what_a_server_class_may_not_have_is_refused_at_decoration(members, message):
    app = ketch.App("bad-servers")
    with pytest.raises(exception.InvalidError, match=re.escape(message)):
        app.server(serialized=True)(_server_class(**members))


def test_bad_server_keywords_are_refused_before_the_class_is_seen():
    app = ketch.App("bad-server-keywords")
    for kwargs, message in (({"port": 0}, "port must be an int"),
                            ({"startup_timeout": 0}, "startup_timeout must be a positive"),
                            ({"routing_region": ""}, "routing_region must be"),
                            ({"target_concurrency": -1}, "target_concurrency must be"),
                            ({"retries": 2}, "unknown keyword 'retries'")):
        with pytest.raises(exception.InvalidError, match=re.escape(message)):
            app.server(**kwargs)
    with pytest.raises(exception.InvalidError, match="forget parentheses"):
        app.server(_server_class(start=ketch.enter()(lambda self: None)))
    with pytest.raises(exception.InvalidError, match="use target_concurrency"):
        app.server(serialized=True)(ketch.concurrent(max_inputs=3)(
            _server_class(start=ketch.enter()(lambda self: None))))
