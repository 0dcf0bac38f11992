"""Environments on a real ``ketch server``, used as a user would: the CLI's ``--env``, tokens
granted one environment, apps calling each other by name inside one, and nothing crossing."""

from __future__ import annotations

import json
import subprocess
import sys

from .server_process import TESTS, ServerProcess
from .test_deploy import deploy

PUT = ("import ketch, sys; ketch.Dict.from_name('shared', create_if_missing=True, "
       "environment_name=sys.argv[1] or None)['k'] = sys.argv[2]")


def run(server: ServerProcess, *args: str, env: dict[str, str] | None = None) -> str:
    result = server.cli("run", "apps/caller.py", *args, extra_env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_a_container_calls_a_deployed_app_of_its_environment_by_name(server):
    deploy(server, "1")
    assert run(server, "--x", "5") == "v1:5"
    assert server.cli("environment", "create", "dev").returncode == 0
    assert "version 1" in server.cli("deploy", "--env", "dev", str(
        server.home.parent / "project" / "deployed.py")).stdout
    assert run(server, "--x", "6", env={"KETCH_ENVIRONMENT": "dev"}) == "v1:6"
    crossing = run(server, "--x", "7", "--target-env", "dev")  # main's container, into dev
    assert crossing.startswith("PermissionDeniedError") and "own environment" in crossing


def test_named_objects_are_per_environment_and_tokens_per_environment(server):
    assert server.cli("environment", "create", "dev").returncode == 0
    server.client(PUT, "", "main's")
    server.client(PUT, "dev", "dev's")
    assert run(server, "--dict-name", "shared") == "main's"
    assert run(server, "--dict-name", "shared", env={"KETCH_ENVIRONMENT": "dev"}) == "dev's"
    assert run(server, "--dict-name", "shared", "--target-env", "dev").startswith(
        "PermissionDeniedError")
    made = server.cli("token", "new", "--env", "dev", "--no-save")
    lines = dict(line.split(":", 1) for line in made.stdout.splitlines() if ":" in line)
    dev_only = {"KETCH_TOKEN_ID": lines["token id"].strip(),
                "KETCH_TOKEN_SECRET": lines["token secret"].strip()}
    listed = server.cli("environment", "list", "--json", extra_env=dev_only)
    assert [e["name"] for e in json.loads(listed.stdout)] == ["dev"]
    assert run(server, "--dict-name", "shared", env=dev_only) == "dev's"  # its default: dev
    refused = server.cli("dict", "items", "shared", "--env", "main", extra_env=dev_only)
    assert refused.returncode != 0 and "no rights in environment 'main'" in refused.stderr
    refused = server.cli("token", "new", "--no-save", extra_env=dev_only)
    assert refused.returncode != 0 and "only a token for every environment" in refused.stderr


def test_deleting_an_environment_stops_its_apps_and_drops_its_objects(server):
    deploy(server, "1")
    assert server.cli("environment", "create", "dev").returncode == 0
    source = str(server.home.parent / "project" / "deployed.py")
    assert server.cli("deploy", "--env", "dev", source).returncode == 0
    server.client(PUT, "dev", "gone soon")
    deleted = server.cli("environment", "delete", "dev", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(server.cli("app", "list", "--json").stdout)[0]["name"] == "deployed"
    missing = server.cli("app", "list", "--env", "dev")
    assert missing.returncode != 0 and "no environment named 'dev'" in missing.stderr
    assert server.cli("environment", "create", "dev").returncode == 0
    assert server.cli("dict", "list", "--json", "--env", "dev").stdout.strip() == "[]"
    assert run(server, "--x", "8") == "v1:8"  # main's app never noticed
    main = server.cli("environment", "delete", "main", "--yes")
    assert main.returncode != 0 and "cannot be deleted" in main.stderr


def test_environment_and_workspace_handles_as_an_admin_script_uses_them(server):
    made = server.cli("token", "new", "--env", "main", "--no-save")
    viewer = dict(line.split(":", 1) for line in made.stdout.splitlines()
                  if ":" in line)["token id"].strip()
    program = str(TESTS / "compat" / "programs" / "environments_and_workspace.py")
    result = subprocess.run([sys.executable, "-m", "ketch.cli", "python", program, viewer],
                            env=server.env(), capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "environments ['dev', 'main']", "role viewer", "context main",
        "workspace is the host True", "proxy scoped True", "proxy opens main False",
        "proxy deleted True", "square 49", "billed in main True", "cpu rate True", "summary True",
        "renamed ['development', 'main']"]
