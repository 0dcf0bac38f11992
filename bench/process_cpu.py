"""The CPU time a process and all its descendants have used, to the nanosecond (Linux).

k) counts what its burst cost as well as how long it took: on a shared machine the wall clock
moves with the others' load, the CPU time much less. ketch's control plane and worker run in
the bench process; its zygotes are the bench's children and every container and spare
descends from one of them (or from a launcher the bench started), so the bench's process tree
holds all of the work a burst makes. Each thread's time is read from
``/proc/PID/task/TID/schedstat`` (nanoseconds run on a CPU), not from ``/proc/PID/stat``'s
clock ticks, whose rounding would be a large part of a container's few milliseconds.

Children that exited and were reaped inside the tree are counted through their parent's
``cutime``/``cstime`` (clock ticks, summed by the kernel before rounding), the part of their
life before ``before`` taken off again; work the kernel does in its own threads (freeing a
cgroup, finishing a mount namespace) is not counted.

Example::

    before = tree_cpu()
    ...
    used_s = cpu_since(before)
"""

from __future__ import annotations

import os

AVAILABLE = os.path.exists("/proc/self/task")  # Linux
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # the fields after the command's name


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                children.setdefault(int(_stat(int(name))[1]), []).append(int(name))
            except (OSError, IndexError, ValueError):
                continue  # it exited meanwhile
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _process_cpu_s(pid: int) -> float:
    """Its threads' run time, and its reaped children's."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            continue
    fields = _stat(pid)
    return total / 1e9 + (int(fields[13]) + int(fields[14])) * TICK_S  # cutime, cstime


def tree_cpu(root: int | None = None) -> dict[int, float]:
    """Seconds of CPU used so far by ``root`` (this process by default) and each descendant."""
    used = {}
    for pid in _descendants(os.getpid() if root is None else root):
        try:
            used[pid] = _process_cpu_s(pid)
        except (OSError, IndexError, ValueError):
            continue
    return used


def cpu_since(before: dict[int, float], root: int | None = None) -> float:
    """Seconds of CPU the tree used since ``before`` (a `tree_cpu`); a process new since then
    counts in full, one gone since then only for what it used after ``before`` (its whole
    life is in its parent's ``cutime`` now)."""
    now = tree_cpu(root)
    return (sum(used - before.get(pid, 0.0) for pid, used in now.items())
            - sum(used for pid, used in before.items() if pid not in now))
