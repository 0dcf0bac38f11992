"""``ketch sandbox`` and ``ketch shell`` against a real ``ketch server`` whose sandboxes run on
the namespace runtime; sandboxes are made by client programs through the SDK, as a user's
would be, and the CLI runs as a separate process, as a person runs it."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest
from server.server_process import TESTS, ServerProcess

from ketch import config
from ketch.backends.namespace import NamespaceDriver

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
pytestmark = pytest.mark.skipif(problem is not None, reason=f"namespace runtime: {problem}")

CREATE = """
import sys, ketch
app = ketch.App.lookup("cli-sandboxes", create_if_missing=True)
sb = ketch.Sandbox.create(*sys.argv[1:], app=app)
sb.set_tags({"team": "cli"})
print(sb.object_id)
"""


class SandboxServer(ServerProcess):
    def env(self) -> dict[str, str]:
        return {**super().env(), "KETCH_SANDBOX_RUNTIME": "namespace"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = SandboxServer(tmp_path_factory.mktemp("sandbox-cli"))
    process.start()
    yield process
    process.stop()


def create(server: ServerProcess, *command: str) -> str:
    return server.client(CREATE, *command).strip()


def running(server: ServerProcess) -> list[str]:
    return [row["sandbox_id"] for row in json.loads(server.cli("sandbox", "list", "--json").stdout)]


def test_list_shows_a_sandbox_made_by_a_program(server):
    sandbox_id = create(server, "sleep", "300")
    rows = json.loads(server.cli("sandbox", "list", "--json").stdout)
    row = next(r for r in rows if r["sandbox_id"] == sandbox_id)
    assert row["app_name"] == "cli-sandboxes" and row["tags"] == {"team": "cli"}
    assert row["runtime"] == "namespace" and row["status"] == "running"
    table = server.cli("sandbox", "list").stdout
    assert sandbox_id in table and "cli-sandboxes" in table and "team=cli" in table
    assert running(server) == [r["sandbox_id"] for r in rows]
    by_tag = json.loads(server.cli("sandbox", "list", "--json", "--tag", "team=cli").stdout)
    assert sandbox_id in [r["sandbox_id"] for r in by_tag]
    assert json.loads(server.cli("sandbox", "list", "--json", "--tag", "team=other").stdout) == []
    by_app = json.loads(server.cli("sandbox", "list", "--json", "--app-id", row["app_id"]).stdout)
    assert sandbox_id in [r["sandbox_id"] for r in by_app]
    bad = server.cli("sandbox", "list", "--tag", "team")
    assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr
    server.cli("sandbox", "stop", sandbox_id)


def test_exec_streams_output_pipes_stdin_and_exits_with_the_status(server):
    sandbox_id = create(server, "sleep", "300")
    done = server.cli("sandbox", "exec", sandbox_id, "--", "bash", "-c",
                      "echo out; echo err >&2; exit 7")
    assert (done.returncode, done.stdout, done.stderr) == (7, "out\n", "err\n")
    piped = subprocess.run(
        [sys.executable, "-m", "ketch.cli", "sandbox", "exec", sandbox_id, "--", "tr", "a-z",
         "A-Z"], input="one\ntwo\n", env=server.env(), capture_output=True, text=True,
        timeout=60)
    assert (piped.returncode, piped.stdout) == (0, "ONE\nTWO\n")
    killed = server.cli("sandbox", "exec", sandbox_id, "--", "sh", "-c", "kill -TERM $$")
    assert killed.returncode == 128 + signal.SIGTERM
    missing = server.cli("sandbox", "exec", sandbox_id, "--", "no-such-program")
    assert missing.returncode == 127 and "no-such-program" in missing.stderr
    # output comes as it is made, not when the command ends
    with subprocess.Popen(
            [sys.executable, "-m", "ketch.cli", "sandbox", "exec", sandbox_id, "--", "sh", "-c",
             "echo first; sleep 20; echo second"], env=server.env(), stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL, text=True) as slow:
        try:
            ready, _, _ = select.select([slow.stdout], [], [], 15)
            assert ready and slow.stdout.readline() == "first\n"
        finally:
            slow.kill()
    server.cli("sandbox", "stop", sandbox_id)


def test_logs_show_the_command_output_once(server):
    sandbox_id = create(server, "bash", "-c", "echo one; sleep 1; echo two; echo oops >&2")
    followed = server.cli("sandbox", "logs", "--follow", sandbox_id)
    assert (followed.returncode, followed.stdout, followed.stderr) == (0, "one\ntwo\n", "oops\n")
    again = server.cli("sandbox", "logs", sandbox_id)  # handed out already
    assert (again.returncode, again.stdout) == (0, "")
    idle = create(server)
    no_command = server.cli("sandbox", "logs", idle)
    assert no_command.returncode == 1 and "runs no command" in no_command.stderr
    server.cli("sandbox", "stop", idle)


def test_stop_ends_it_and_errors_name_the_fix(server):
    sandbox_id = create(server, "sleep", "300")
    stopped = server.cli("sandbox", "stop", sandbox_id)
    assert stopped.returncode == 0 and "terminated, exit status 137" in stopped.stdout
    assert sandbox_id not in running(server)
    assert "already ended" in server.cli("sandbox", "stop", sandbox_id).stdout
    ended = server.cli("sandbox", "exec", sandbox_id, "--", "true")
    assert ended.returncode == 1 and "has ended" in ended.stderr
    assert "`ketch sandbox list`" in ended.stderr and "Traceback" not in ended.stderr
    unknown = server.cli("sandbox", "stop", "sb-000000000000")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == ("Error: no sandbox sb-000000000000; `ketch sandbox list` "
                                      "shows the running sandboxes")


def test_pty_exec_sees_a_terminal_of_the_size_asked(server):
    sandbox_id = create(server, "sleep", "300")
    out = server.client(f"""
import json, ketch
sb = ketch.Sandbox.from_id({sandbox_id!r})
p = sb.exec("bash", "-c", "tty; stty size; (exec 3</dev/tty) && echo controlling; echo e >&2",
            pty=True, pty_info={{"rows": 33, "cols": 101}})
print(json.dumps([p.stdout.read(), p.stderr.read(), p.wait()]))
""")
    stdout, stderr, code = json.loads(out)
    device, *rest = stdout.split("\r\n")  # a terminal ends lines with CR LF
    assert device.startswith("/dev/pts/") and rest == ["33 101", "controlling", "e", ""]
    assert (stderr, code) == ("", 0)  # on a terminal, stderr comes with stdout
    server.cli("sandbox", "stop", sandbox_id)


class Terminal:
    """A command on a pseudo-terminal of our own, typed at as a person would."""

    def __init__(self, argv: list[str], env: dict[str, str], rows: int, cols: int) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: run the command on the terminal
            try:
                self.resize(rows, cols, fd=0)
                os.chdir(TESTS)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.output = b""

    def resize(self, rows: int, cols: int, fd: int | None = None) -> None:
        fcntl.ioctl(self.fd if fd is None else fd, termios.TIOCSWINSZ,
                    struct.pack("HHHH", rows, cols, 0, 0))

    def expect(self, text: bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output and time.monotonic() < deadline:
            if select.select([self.fd], [], [], 0.1)[0]:
                try:
                    self.output += os.read(self.fd, 4096)
                except OSError:
                    break
        assert text in self.output, self.output.decode(errors="replace")

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def interact(terminal: Terminal) -> None:
    """A shell session: its size, a change of ours passed on, ^C, and an exit status (its
    prompt is a user's, not root's: sandbox code runs as nobody)."""
    terminal.expect(b"$ ")
    terminal.output = b""
    os.write(terminal.fd, b"stty size\r")
    terminal.expect(b"30 100")
    terminal.resize(40, 120)
    os.kill(terminal.pid, signal.SIGWINCH)
    for _ in range(50):  # the new size travels apart from what is typed: it may come later
        terminal.output = b""
        os.write(terminal.fd, b"stty size\r")
        terminal.expect(b"stty size\r\n")
        terminal.expect(b"$ ")  # the next prompt, after its answer
        if b"40 120" in terminal.output:
            break
        time.sleep(0.1)
    assert b"40 120" in terminal.output
    os.write(terminal.fd, b"sleep 30\r")
    time.sleep(0.5)
    os.write(terminal.fd, b"\x03echo after $?\r")  # ^C: SIGINT to the shell's foreground job
    terminal.expect(b"after 130")
    os.write(terminal.fd, b"exit 5\r")


def test_exec_on_our_terminal_is_interactive(server):
    sandbox_id = create(server, "sleep", "300")
    terminal = Terminal([sys.executable, "-m", "ketch.cli", "sandbox", "exec", sandbox_id,
                         "--", "bash", "--norc"], server.env(), 30, 100)
    interact(terminal)
    assert terminal.wait() == 5
    server.cli("sandbox", "stop", sandbox_id)


def test_shell_runs_a_command_in_a_sandbox_like_the_function(server):
    on_volume = server.cli("shell", "apps/volumes.py::write", "--cmd",
                           "sh -c 'ls -d /data && echo ok'")
    assert (on_volume.returncode, on_volume.stdout) == (0, "/data\nok\n"), on_volume.stderr
    with_secret = server.cli("shell", "apps/secrets_app.py::without_secrets", "--cmd",
                             "sh -c 'echo $APP_WIDE; exit 3'")
    assert (with_secret.returncode, with_secret.stdout) == (3, "everywhere\n")
    plain = subprocess.run([sys.executable, "-m", "ketch.cli", "shell", "--cmd", "cat"],
                           input="piped\n", env=server.env(), capture_output=True, text=True,
                           timeout=90, cwd=TESTS)
    assert (plain.returncode, plain.stdout) == (0, "piped\n")
    assert running(server) == []
    of_a_class = server.cli("shell", "apps/classes.py::Counter.incr", "--cmd", "echo method")
    assert (of_a_class.returncode, of_a_class.stdout) == (0, "method\n")
    entrypoint = server.cli("shell", "apps/secrets_app_cli.py::main", "--cmd", "true")
    assert entrypoint.returncode != 0 and "local entrypoint" in entrypoint.stderr


def test_shell_on_our_terminal_is_interactive(server):
    terminal = Terminal([sys.executable, "-m", "ketch.cli", "shell", "--cmd", "bash --norc"],
                        server.env(), 30, 100)
    interact(terminal)
    assert terminal.wait() == 5
    assert running(server) == []
