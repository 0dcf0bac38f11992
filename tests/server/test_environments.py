"""Environments on a real ``ketch server``, used as a user would: the CLI's ``--env``, tokens
granted one environment, apps calling each other by name inside one, and nothing crossing."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx

from .server_process import TESTS, ServerProcess
from .test_deploy import deploy

URLS = ("import ketch\nfor env in ('main', 'dev'):\n    print(ketch.Function.from_name("
        "'envweb', 'who', environment_name=env).get_web_url())")
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


def deploy_web(server: ServerProcess, who: str, label: str = "env-echo",
               *env: str) -> subprocess.CompletedProcess[str]:
    """Deploy tests/apps/env_web.py answering ``who`` under ``label``; `ketch deploy`'s run."""
    source = (TESTS / "apps" / "env_web.py").read_text().replace(
        'WHO = "main"', f"WHO = {who!r}").replace('"env-echo"', repr(label))
    target = server.home.parent / f"web-{who}" / "env_web.py"
    target.parent.mkdir(exist_ok=True)
    target.write_text(source)
    return server.cli("deploy", *env, str(target))


def ask(url: str) -> httpx.Response:
    """GET ``url``, by its host name over a connection to the gateway's address where the URL
    names one (Python's resolver may not know *.localhost)."""
    host, _, rest = url.split("//")[1].partition("/")
    address = host.rsplit(":", 1)
    headers = {}
    if address[0].endswith(".localhost"):
        headers = {"Host": host}
        url = f"http://127.0.0.1:{address[1]}/{rest}"
    return httpx.get(url, headers=headers, timeout=60)


def get(url: str) -> str:
    """What the endpoint at ``url`` answers."""
    return str(ask(url).json())


def test_one_web_label_in_two_environments_is_served_at_two_names(server):
    assert server.cli("environment", "create", "dev").returncode == 0
    main = deploy_web(server, "main's")
    dev = deploy_web(server, "dev's", "env-echo", "--env", "dev")
    assert main.returncode == 0 and dev.returncode == 0, main.stderr + dev.stderr
    main_url = main.stdout.split("who: ")[1].split()[0]
    dev_url = dev.stdout.split("who: ")[1].split()[0]
    assert "env-echo--dev" in dev_url and "--" not in main_url.split("//")[1]
    assert (get(main_url), get(dev_url)) == ("main's", "dev's")
    server.restart()  # the deployments come back under the same names (on another port)
    urls = server.client(URLS).split()
    assert [re.sub(r":\d+", "", url) for url in urls] == [
        re.sub(r":\d+", "", url) for url in (main_url, dev_url)]
    assert [get(url) for url in urls] == ["main's", "dev's"]
    clash = deploy_web(server, "clash", "env-echo--dev")  # main's label = dev's served name
    assert clash.returncode != 0
    assert "'env-echo--dev'" in clash.stderr and "environment 'dev'" in clash.stderr
    assert get(urls[1]) == "dev's"  # the refused deploy took nothing from dev
    none = server.cli("environment", "update", "dev", "--set-web-suffix", "")
    assert none.returncode != 0 and "'env-echo' of environment 'dev'" in none.stderr
    moved = server.cli("environment", "update", "dev", "--set-web-suffix", "Staging")
    assert moved.returncode == 0, moved.stderr
    assert ask(urls[1]).status_code == 404  # its old name is free
    urls = server.client(URLS).split()
    assert "env-echo--staging" in urls[1] and get(urls[1]) == "dev's"
