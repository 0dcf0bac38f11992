"""Deployments against a real ``ketch server``: call by name, restart, roll back, logs."""

from __future__ import annotations

import json

from .server_process import ServerProcess
from .server_process import deploy_version as deploy

CALL = "import ketch; print(ketch.Function.from_name('deployed', 'which').remote(7))"
CLS_CALL = ("import ketch; Greeter = ketch.Cls.from_name('deployed', 'Greeter'); "
            "print(Greeter(greeting='hi').greet.remote('ada'))")
SCALE = ("import ketch; f = ketch.Function.from_name('deployed', 'which'); "
         "f.update_autoscaler(min_containers=1); print('ok')")




def test_deploy_call_restart_rollback_and_logs(server):
    assert "deployed deployed as version 1" in deploy(server, "1")
    assert server.client(CALL).strip() == "v1:7"
    assert server.client(CLS_CALL).strip() == "hi ada from v1"
    server.restart()
    assert server.client(CALL).strip() == "v1:7"  # the deployment survived
    assert server.client(SCALE).strip() == "ok"
    assert "version 2" in deploy(server, "2")
    assert server.client(CALL).strip() == "v2:7"
    history = json.loads(server.cli("app", "history", "deployed", "--json").stdout)
    assert [(v["version"], v["state"]) for v in history] == [(1, "stopped"), (2, "running")]
    assert "version 3 runs the code of version 1" in server.cli("app", "rollback", "deployed").stdout
    assert server.client(CALL).strip() == "v1:7"  # rollback restored the previous code
    listed = json.loads(server.cli("app", "list", "--json").stdout)
    assert [(a["name"], a["version"]) for a in listed] == [("deployed", 3)]
    logs = server.cli("app", "logs", "deployed").stdout
    assert "which ran with 7" in logs
    assert server.cli("app", "stop", "deployed").returncode == 0
    missing = server.cli("app", "stop", "deployed")
    assert missing.returncode != 0 and "no deployed app named 'deployed'" in missing.stderr


def test_deploy_needs_a_server(tmp_path):
    process = ServerProcess(tmp_path)  # never started: its address is not configured either
    result = process.cli("deploy", "apps/deployed.py", extra_env={"KETCH_SERVER": ""})
    assert result.returncode != 0 and "needs a running ketch server" in result.stderr
