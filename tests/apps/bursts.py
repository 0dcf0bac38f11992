"""A function whose containers say where they run and under which limits: bursts of starts."""

import os
import time

import ketch

app = ketch.App("bursts")
MEMORY_MIB = 48
CPU = 0.05


def own_cgroup() -> tuple[str, int]:
    """This container's memory cgroup (its name) and that cgroup's memory limit, in bytes."""
    lines = open("/proc/self/cgroup").read().splitlines()
    paths = {controllers: path for _, controllers, path in (line.split(":", 2) for line in lines)}
    if "memory" in paths:  # cgroup v1
        limit = open(f"/sys/fs/cgroup/memory{paths['memory']}/memory.limit_in_bytes").read()
        return paths["memory"], int(limit)
    return paths[""], int(open(f"/sys/fs/cgroup{paths['']}/memory.max").read())


@app.function(runtime="namespace", cpu=CPU, memory=MEMORY_MIB)
def where(seconds: float) -> dict:
    time.sleep(seconds)
    cgroup, memory_limit = own_cgroup()
    return {"container": os.environ["KETCH_CONTAINER_ID"], "pid": os.getpid(),
            "pid_namespace": os.readlink("/proc/self/ns/pid"), "cgroup": cgroup,
            "memory_limit": memory_limit}
