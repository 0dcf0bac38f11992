"""Modal programs in the spirit of modal-examples' CPU examples (written for these tests, not
copied), run unchanged through the ``ketch`` CLI in real subprocesses, each with a timeout."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
from server.server_process import ServerProcess, interrupt

from .test_programs import ROOT, ketch_cli

PROGRAMS = Path(__file__).parent / "programs"


def test_wsgi_app_on_an_image_without_a_web_server():
    # Modal serves wsgi_app/asgi_app with its own server: the image needs only the user's app
    result = ketch_cli("run", str(PROGRAMS / "wsgi_without_uvicorn.py"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answer GET /some/path" in result.stdout.splitlines()


def test_serve_lists_the_web_endpoints_of_class_methods(tmp_path):
    # `modal serve` prints every endpoint's URL, a class's methods as Class.method
    port = _free_port()
    env = {**os.environ, "KETCH_GATEWAY_PORT": str(port)}
    env.pop("KETCH_SERVER", None)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serving = subprocess.Popen(
            [sys.executable, "-m", "ketch.cli", "serve", str(PROGRAMS / "class_web_endpoints.py")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while "press Ctrl-C" not in log.read_text() and serving.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        urls = dict(line.strip().split(": ", 1) for line in log.read_text().splitlines()
                    if line.startswith("  ") and ": http" in line)
        assert set(urls) == {"ping", "Counter.bump", "Counter.reset"}, log.read_text()
        with urlopen(urls["Counter.bump"], timeout=60) as answer:
            assert json.loads(answer.read()) == {"count": 1}
        with urlopen(Request(urls["Counter.reset"], method="POST"), timeout=60) as answer:
            assert json.loads(answer.read()) == {"count": 0}
    finally:
        interrupt(serving)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_gateway_port_in_use_is_named_with_the_fix(monkeypatch):
    # two `ketch serve` at once both want port 7078: the second says so, without a traceback
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("KETCH_GATEWAY_PORT", str(port))
        result = ketch_cli("run", str(PROGRAMS / "wsgi_without_uvicorn.py"), timeout=120)
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.stderr and "KETCH_GATEWAY_PORT" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_app_deploy_from_a_script_against_a_server(server):
    result = server.cli("python", str(PROGRAMS / "deploy_from_python.py"))
    assert result.returncode == 0, result.stderr
    assert ["same app True", "handle 42", "by name 8"] == result.stdout.splitlines()[-3:]
    listed = json.loads(server.cli("app", "list", "--json").stdout)
    assert [(a["name"], a["version"]) for a in listed] == [("compat-deploy-from-python", 1)]


def test_app_deploy_needs_a_server():
    result = ketch_cli("python", str(PROGRAMS / "deploy_from_python.py"))
    assert result.returncode != 0
    assert "needs a running ketch server" in result.stderr, result.stderr


def test_a_scripts_own_class_comes_back_from_its_container():
    result = ketch_cli("python", str(PROGRAMS / "script_dataclass_result.py"))
    assert result.returncode == 0, result.stderr
    assert "reading porch 21.5 script_dataclass_result" in result.stdout.splitlines()


def test_a_web_answer_has_one_date_and_one_server_header():
    result = ketch_cli("run", str(PROGRAMS / "web_headers.py"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"date 1", "server 1", "content-type 1"} <= set(result.stdout.splitlines())


def test_a_restarted_server_serves_deployed_endpoints_on_its_gateway_port(tmp_path):
    # the deployed app's web endpoint comes back while the server starts: on --gateway-port
    port = _free_port()
    server = ServerProcess(tmp_path, args=("--gateway-port", str(port)))
    server.start()
    try:
        deployed = server.cli("deploy", str(PROGRAMS / "wsgi_without_uvicorn.py"))
        assert deployed.returncode == 0, deployed.stderr
        server.restart()
        url = f"http://127.0.0.1:{port}/compat-wsgi-bare-image-plain/again"
        with urlopen(url, timeout=60) as answer:
            assert answer.read() == b"GET /again"
    finally:
        server.stop()


def test_module_level_variants_call_each_other_from_containers():
    result = ketch_cli("run", str(PROGRAMS / "stage_variants.py"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "result 400 ['result.txt']" in result.stdout.splitlines()


def test_serve_exits_when_the_app_cannot_start(monkeypatch):
    # `modal serve` of an app with a function no machine here can hold ends with the reason
    monkeypatch.setenv("KETCH_GATEWAY_PORT", str(_free_port()))
    result = ketch_cli("serve", str(PROGRAMS / "serve_unfit_endpoint.py"), timeout=60)
    assert result.returncode != 0
    assert "function 'enormous' can never run here" in result.stderr, result.stderr


@pytest.mark.parametrize("how", ["--timeout", "MODAL_SERVE_TIMEOUT"])
def test_serve_stops_by_itself_after_its_timeout(monkeypatch, how):
    # `modal serve --timeout N` (MODAL_SERVE_TIMEOUT in CI) serves for N seconds, then exits
    monkeypatch.setenv("KETCH_GATEWAY_PORT", str(_free_port()))
    program = str(PROGRAMS / "class_web_endpoints.py")
    if how == "--timeout":
        result = ketch_cli("serve", "--timeout", "2", program, timeout=90)
    else:
        monkeypatch.setenv(how, "2")
        result = ketch_cli("serve", program, timeout=90)
    assert result.returncode == 0, result.stderr
    assert "press Ctrl-C to stop" in result.stderr


def test_a_web_container_failing_to_start_is_answered_at_once():
    result = ketch_cli("run", str(PROGRAMS / "web_missing_dependency.py"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines.count("status 502") == 2, result.stdout
    assert sum(line.startswith("says ") and "failed while starting" in line for line in lines) == 2
    assert lines.count("answered within 30 s True") == 2
    assert "No module named 'a_package_this_image_does_not_have'" in result.stderr


def test_ketch_python_runs_a_module_as_python_m_does():
    # modal-examples runs some scripts as `python -m 05_scheduling.schedule_simple`
    result = ketch_cli("python", "-m", "programs.scheduled_module", cwd=PROGRAMS.parent,
                       timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "package programs" in lines
    assert any(line.endswith("] tick from the schedule") for line in lines), result.stdout


def test_a_progress_bar_shows_each_state_as_it_is_drawn():
    result = ketch_cli("run", str(PROGRAMS / "progress_bar.py"), timeout=240)
    assert result.returncode == 0, result.stderr
    assert "counted 5" in result.stdout.splitlines()
    states = [line for line in result.stderr.splitlines()
              if line.startswith("[count ") and "/5 [" in line]
    counts = [state.split("|")[2].split()[0] for state in states]
    assert list(dict.fromkeys(counts)) == ["0/5", "1/5", "2/5", "3/5", "4/5", "5/5"], \
        result.stderr  # tqdm draws its last state twice, as it closes
    assert "\r" not in result.stderr  # not a terminal: each state is a line of its own


def test_a_deployed_app_adds_a_file_found_next_to_its_module(server):
    for program, function, expected in [
        ("deployed_asset", "read_asset", "the asset, as deployed"),
        ("deployed_beside", "read_beside", "the asset, as deployed from /root"),
    ]:
        deployed = server.cli("deploy", str(PROGRAMS / f"{program}.py"))
        assert deployed.returncode == 0, deployed.stderr
        app = f"compat-{program.replace('_', '-')}"
        read = f"import ketch; print(ketch.Function.from_name({app!r}, {function!r}).remote())"
        assert server.client(read).strip() == expected


def test_a_class_serves_its_methods_and_its_web_endpoint_together():
    result = ketch_cli("run", str(PROGRAMS / "class_method_beside_endpoint.py"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert ["remote hello ada", "web hello bob", "map ['hello cy', 'hello di']",
            "local hello eve", "elsewhere hello fay, hello FAY"] == \
        [line for line in lines
         if line.split()[0] in ("remote", "web", "map", "local", "elsewhere")]


def test_a_function_calling_itself_is_not_queued_behind_its_own_call():
    result = ketch_cli("run", str(PROGRAMS / "recursive_calls.py"), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ["warm 2450", "nested 14", "nested map [6, 10]"] == result.stdout.splitlines()[-3:]


def test_a_class_web_server_method_serves_beside_its_methods():
    result = ketch_cli("run", str(PROGRAMS / "class_web_server.py"), timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "best 0.75" in lines and "dashboard best so far 0.75" in lines, result.stdout


def test_a_volume_reload_keeps_what_the_container_wrote():
    result = ketch_cli("run", str(PROGRAMS / "volume_reload_keeps_writes.py"), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "kept after reload True" in lines and "committed the journal" in lines, result.stdout
