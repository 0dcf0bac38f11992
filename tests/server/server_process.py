"""A real ``ketch server`` subprocess for tests, which can be stopped and started again."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``ketch server`` on a free port with its own KETCH_HOME.

    Example::

        server = ServerProcess(tmp_path)
        server.start()
        server.client("import ketch; ...")   # a Python client process with KETCH_SERVER set
        server.restart()
        server.stop()
    """

    def __init__(self, directory: Path, args: tuple[str, ...] = (), host: str = "127.0.0.1"
                 ) -> None:
        self.home = directory / "home"
        self.args = args  # more `ketch server` options
        self.host = host
        self.port = free_port()
        self.address = f"{host}:{self.port}"
        self._log_path = directory / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {**os.environ, "KETCH_HOME": str(self.home), "KETCH_SERVER": self.address,
                "PYTHONPATH": str(TESTS)}

    def start(self) -> None:
        with open(self._log_path, "a") as log:
            env = {k: v for k, v in self.env().items() if k != "KETCH_SERVER"}
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "ketch.cli", "server", "--host", self.host,
                 "--port", str(self.port),
                 "--gateway-port", "0", "--dashboard-port", "0", *self.args],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                if (self.home / "server.json").exists():  # published once the gateway is up
                    return
                time.sleep(0.05)
            except OSError:
                if self._proc.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"ketch server did not start: {self._log_path.read_text()}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            code = self._proc.wait(timeout=30)
            self._proc = None
            assert code == 0, self._log_path.read_text()

    def kill(self) -> None:
        """SIGKILL the server, as a crash or the OOM killer would: nothing runs at exit."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=30)
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, code: str, *args: str) -> str:
        """Run ``code`` in a client process; return its standard output."""
        result = subprocess.run([sys.executable, "-c", code, *args], env=self.env(),
                                capture_output=True, text=True, timeout=90, cwd=TESTS)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def cli(self, *args: str, extra_env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        env = {**self.env(), **(extra_env or {})}
        return subprocess.run([sys.executable, "-m", "ketch.cli", *args], env=env,
                              capture_output=True, text=True, timeout=90, cwd=TESTS)


def deploy_version(server: ServerProcess, version: str) -> str:
    """``ketch deploy`` tests/apps/deployed.py with its code saying ``version``: the file
    changes between deploys, as a developer's would."""
    source = (TESTS / "apps" / "deployed.py").read_text().replace('"1"', f'"{version}"')
    target = server.home.parent / "project" / "deployed.py"
    target.parent.mkdir(exist_ok=True)
    target.write_text(source)
    result = server.cli("deploy", str(target))
    assert result.returncode == 0, result.stderr
    return result.stdout
