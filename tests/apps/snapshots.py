"""Functions with memory snapshots: what a container forked from a zygote sees."""

import os
import sys
import threading
import time

import ketch

app = ketch.App("snapshots")

IMPORTED_AT = time.time()  # once per zygote, not per container
SERVER_IMPORTED = "uvicorn.server" in sys.modules  # before this module: by the zygote
MODULE_PID = os.getpid()  # the importing process's, as the host numbers it
counter = 0


def where() -> dict:
    cgroup = open("/proc/self/cgroup").read()
    return {"pid": os.getpid(), "hostname": os.uname().nodename, "cgroup": cgroup,
            "container": os.environ["KETCH_CONTAINER_ID"], "imported_at": IMPORTED_AT,
            "server_imported": SERVER_IMPORTED}


@app.function(runtime="namespace", enable_memory_snapshot=True, single_use_containers=True)
def bump() -> dict:
    global counter
    counter += 1
    return {**where(), "counter": counter}


@app.function(runtime="namespace", single_use_containers=True)
def plain() -> dict:
    return {**where(), "command": open("/proc/self/cmdline").read().split("\0")}


@app.function(runtime="namespace")
@ketch.fastapi_endpoint()
def web_where() -> dict:
    return {**where(), "command": open("/proc/self/cmdline").read().split("\0")}


@app.function(runtime="namespace", enable_memory_snapshot=True)
@ketch.fastapi_endpoint()
def web_snapped() -> dict:
    return {**where(), "module_pid": MODULE_PID}


@app.cls(runtime="namespace", enable_memory_snapshot=True, single_use_containers=True)
class Model:
    @ketch.enter(snap=True)
    def load(self):
        self.loaded_by = os.getpid()  # the zygote's pid, as the host numbers it
        self.weights = list(range(1000))

    @ketch.enter(snap=False)
    def start(self):
        self.started_by = os.getpid()

    @ketch.method()
    def info(self) -> dict:
        return {**where(), "loaded_by": self.loaded_by, "started_by": self.started_by,
                "weights": len(self.weights)}


@app.cls(runtime="namespace", enable_memory_snapshot=True)
class Threaded:
    @ketch.enter(snap=True)
    def load(self):
        self.worker = threading.Thread(target=time.sleep, args=(3600,), daemon=True,
                                       name="background-loader")
        self.worker.start()

    @ketch.method()
    def ping(self) -> str:
        return "pong"
