"""What the worker does for a sandbox beyond a container: its command (the supervisor, see
`ketch.container.supervisor`), an environment that owes nothing to the host's, and the channel
to its supervisor, whose frames it relays to the control plane.

The sandbox is hostile: its frames are checked by `ketch.protocol.supervisor.Decoder`, and a
sandbox that breaks the protocol is killed.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from ..backends import Driver, TaskHandle
from ..backends.sandboxing import SANDBOX_HOME
from ..container import supervisor
from ..protocol.supervisor import EXITED, Decoder, ProtocolError, load_report
from ..protocol.worker import ContainerSpec

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

OnFrame = Callable[[str, int, int, bytes], Awaitable[None]]


def host_python() -> str:
    """The interpreter this worker's Python was made from (not a virtualenv's, which may sit
    where a sandbox cannot see it)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


@functools.cache
def _source() -> str:
    return supervisor.source()


def sandbox_command(spec: ContainerSpec) -> list[str]:
    """The sandbox's first process: the supervisor. Its command and every exec come later,
    in frames, so that a sandbox can be started before anyone asks for it."""
    python = (spec.image or {}).get("python") or host_python()
    return [python, "-S", "-c", _source()]


def sandbox_env(spec: ContainerSpec) -> dict[str, str]:
    """The image's environment: nothing of the host's, which may hold credentials, nor of the
    sandbox's own (``env=``, secrets), which the control plane sends with each exec."""
    python = (spec.image or {}).get("python") or host_python()
    env = {"PATH": f"{os.path.dirname(python)}:{SYSTEM_PATH}", "HOME": SANDBOX_HOME,
           "LANG": "C.UTF-8"}
    if spec.image:
        env.update(spec.image["env"])
        env["PATH"] = f"{os.path.dirname(python)}:{env.get('PATH', SYSTEM_PATH)}"
        if spec.image.get("python"):
            env["VIRTUAL_ENV"] = os.path.dirname(os.path.dirname(python))
    return env


class SupervisorChannel:
    """The worker's end of a sandbox's channel: frames in from its stdout, out to its stdin.

    Example::

        channel = SupervisorChannel(driver, handle, on_frame)
        channel.send(frame(EXEC, 1, {"argv": ["ls"]}))
        await channel.run()   # until the sandbox's stdout closes
    """

    def __init__(self, driver: Driver, handle: TaskHandle, on_frame: OnFrame,
                 log: Callable[[str], None]) -> None:
        self.driver = driver
        self.handle = handle
        self.on_frame = on_frame
        self.log = log
        self.broken: str | None = None
        self.oom_kills = 0

    def send(self, data: bytes) -> None:
        stdin = self.handle.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.write(data)

    def say_why(self, proc: int, returncode: object) -> None:
        """A process killed by the kernel's OOM killer: say so in the sandbox's log (the
        sandbox goes on; its process reports -9, as any SIGKILL)."""
        if returncode != -signal.SIGKILL:
            return
        assert self.handle.sandbox is not None
        cgroup = self.handle.sandbox.cgroup
        try:
            kills = cgroup.oom_kills()
        except OSError:
            return
        if kills > self.oom_kills:
            self.oom_kills = kills
            limit = f" of {cgroup.usage().peak_bytes >> 20} MiB"
            self.log(f"ketch: process {proc} of the sandbox was killed: the sandbox reached its "
                     f"memory limit{limit}; ask for more with memory=...")

    async def run(self) -> None:
        stdout = self.handle.stdout
        assert stdout is not None
        decoder = Decoder()
        while True:
            data = await stdout.read(1 << 16)
            if not data:
                return
            try:
                for kind, proc, payload in decoder.feed(data):
                    if kind == EXITED:
                        self.say_why(proc, load_report(payload).get("returncode"))
                    await self.on_frame(self.handle.container_id, kind, proc, payload)
            except (ProtocolError, ValueError, TypeError, KeyError, AttributeError) as exc:
                # whatever the sandbox wrote, it only ever ends that sandbox
                self.broken = f"the sandbox broke its supervisor's protocol ({exc}) and was killed"
                self.driver.signal_task(self.handle, signal.SIGKILL)
                return
