"""Control groups for containers, on cgroup v1 (one hierarchy per controller) and v2 (unified).

A `Cgroup` is created per container with its limits (CPU quota and weight, memory, pids),
joined by the container's first process before it starts anything, read for accounting while
it runs, and removed after it exits. `available()` says whether this machine lets ketch use
cgroups at all (root, and a writable hierarchy).

Example::

    cg = Cgroup.create("ct-1a2b", Limits(cpu_request=0.5, cpu_limit=1.0, memory_mib=512))
    cg.procs_files     # written with the container's pid
    cg.usage()         # Usage(cpu_s=..., memory_bytes=..., peak_bytes=...)
    cg.oom_killed()    # True once the kernel killed a process for memory
    cg.remove()
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000
CONTROLLERS_V1 = ("cpu", "cpuacct", "memory", "pids")


@dataclass(frozen=True)
class Limits:
    cpu_request: float = 0.125
    cpu_limit: float | None = None
    memory_mib: int | None = None
    pids: int = 32_768


@dataclass(frozen=True)
class Usage:
    cpu_s: float
    memory_bytes: int
    peak_bytes: int


@functools.cache  # a machine's hierarchy does not change under a running worker
def version() -> int | None:
    """2 for a unified hierarchy with controllers, 1 for v1 controllers, None if neither."""
    if (ROOT / "cgroup.controllers").exists():
        return 2
    if (ROOT / "memory" / "cgroup.procs").exists() and (ROOT / "cpu").exists():
        return 1
    return None


@functools.cache  # ketch never moves itself to another cgroup
def _own_path(controller: str) -> str:
    """This process's cgroup in a v1 controller's hierarchy (containers nest below it)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return path.lstrip("/")
    return ""


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class Cgroup:
    def __init__(self, version: int, dirs: dict[str, Path]) -> None:
        self.version = version
        self.dirs = dirs

    @property
    def procs_files(self) -> list[str]:
        return sorted({str(d / "cgroup.procs") for d in self.dirs.values()})

    @classmethod
    def create(cls, name: str, limits: Limits) -> Cgroup:
        if version() == 2:
            return cls._create_v2(name, limits)
        return cls._create_v1(name, limits)

    @classmethod
    def _create_v1(cls, name: str, limits: Limits) -> Cgroup:
        dirs = {}
        for controller in CONTROLLERS_V1:
            directory = ROOT / controller / _own_path(controller) / "ketch" / name
            try:
                directory.mkdir()
            except FileNotFoundError:  # the first container: its parent is made once
                directory.parent.mkdir(parents=True, exist_ok=True)
                directory.mkdir()
            dirs[controller] = directory
        cgroup = cls(1, dirs)
        cgroup.limit(limits)
        return cgroup

    @classmethod
    def _create_v2(cls, name: str, limits: Limits) -> Cgroup:
        base = ROOT / "ketch"
        base.mkdir(exist_ok=True)
        for parent in (ROOT, base):
            try:
                _write(parent / "cgroup.subtree_control", "+cpu +memory +pids")
            except OSError:
                pass  # already enabled, or delegated to us as it is
        directory = base / name
        directory.mkdir()
        cgroup = cls(2, {"unified": directory})
        cgroup.limit(limits)
        return cgroup

    def kill(self, signum: int) -> None:
        """Send ``signum`` to every process in the cgroup (a container's, inside and out)."""
        for path in self.procs_files:
            try:
                pids = Path(path).read_text().split()
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(int(pid), signum)
                except ProcessLookupError:
                    pass

    def limit(self, limits: Limits) -> None:
        """Set the limits (again: a cgroup made ahead of its container gets them late)."""
        if self.version == 2:
            self._limit_v2(limits)
        else:
            self._limit_v1(limits)

    def _limit_v1(self, limits: Limits) -> None:
        cpu = self.dirs["cpu"]
        _write(cpu / "cpu.shares", str(max(2, int(1024 * limits.cpu_request))))
        if limits.cpu_limit is not None:
            _write(cpu / "cpu.cfs_period_us", str(PERIOD_US))
            _write(cpu / "cpu.cfs_quota_us", str(int(PERIOD_US * limits.cpu_limit)))
        if limits.memory_mib is not None:
            memory = self.dirs["memory"]
            _write(memory / "memory.limit_in_bytes", str(limits.memory_mib * 2**20))
            try:  # no swap beyond the limit, where the kernel accounts swap
                _write(memory / "memory.memsw.limit_in_bytes", str(limits.memory_mib * 2**20))
            except OSError:
                pass
        _write(self.dirs["pids"] / "pids.max", str(limits.pids))

    def _limit_v2(self, limits: Limits) -> None:
        directory = self.dirs["unified"]
        _write(directory / "cpu.weight", str(max(1, min(10_000, int(100 * limits.cpu_request)))))
        if limits.cpu_limit is not None:
            _write(directory / "cpu.max", f"{int(PERIOD_US * limits.cpu_limit)} {PERIOD_US}")
        if limits.memory_mib is not None:
            _write(directory / "memory.max", str(limits.memory_mib * 2**20))
            try:
                _write(directory / "memory.swap.max", "0")
            except OSError:
                pass
        _write(directory / "pids.max", str(limits.pids))

    def usage(self, *, peak: bool = True) -> Usage:
        """CPU and memory used; without ``peak`` the peak is not read (it is reported as the
        memory in use): the meter's once-a-second samples of every container need none."""
        try:
            if self.version == 2:
                return self._usage_v2(peak)
            return self._usage_v1(peak)
        except (OSError, ValueError):
            return Usage(0.0, 0, 0)

    def _usage_v1(self, peak: bool) -> Usage:
        cpu_ns = int((self.dirs["cpuacct"] / "cpuacct.usage").read_text())
        memory = self.dirs["memory"]
        current = int((memory / "memory.usage_in_bytes").read_text())
        most = int((memory / "memory.max_usage_in_bytes").read_text()) if peak else current
        return Usage(cpu_ns / 1e9, current, most)

    def _usage_v2(self, peak: bool) -> Usage:
        directory = self.dirs["unified"]
        stat = dict(
            line.split() for line in (directory / "cpu.stat").read_text().splitlines()
        )
        current = int((directory / "memory.current").read_text())
        peak_file = directory / "memory.peak"
        most = int(peak_file.read_text()) if peak and peak_file.exists() else current
        return Usage(int(stat["usage_usec"]) / 1e6, current, most)

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer killed a process of this cgroup."""
        return self.oom_kills() > 0

    def oom_kills(self) -> int:
        """How many processes of this cgroup the kernel's OOM killer has killed."""
        if self.version == 2:
            events = (self.dirs["unified"] / "memory.events").read_text()
        else:
            events = (self.dirs["memory"] / "memory.oom_control").read_text()
        counts = dict(line.split() for line in events.splitlines() if len(line.split()) == 2)
        return int(counts.get("oom_kill", "0"))

    def remove(self) -> None:
        """Remove the cgroup, killing anything left in it first."""
        for directory in self.dirs.values():
            for _ in range(50):
                try:
                    pids = (directory / "cgroup.procs").read_text().split()
                except OSError:
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
                try:
                    directory.rmdir()
                    break
                except OSError:
                    time.sleep(0.01)


def available() -> str | None:
    """None when ketch can make cgroups here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "not running as root"
    v = version()
    if v is None:
        return "no cgroup v1 or v2 hierarchy with the cpu and memory controllers"
    try:
        probe = Cgroup.create(f"probe-{os.getpid()}", Limits())
    except OSError as exc:
        return f"cannot create a cgroup: {exc}"
    probe.remove()
    return None
