"""Functions sharing a NetworkFileSystem: writes one container makes, another sees at once."""

import os
import time

import ketch

app = ketch.App("shared-fs")
shared = ketch.NetworkFileSystem.from_name("shared-fs-test", create_if_missing=True)


@app.function(network_file_systems={"/shared": shared}, runtime="namespace")
def write_then_wait(name: str, other: str) -> str:
    with open(f"/shared/{name}", "w") as f:
        f.write(f"from {name}")
    deadline = time.monotonic() + 30  # the other container's file appears, with no commit
    while not os.path.exists(f"/shared/{other}"):
        if time.monotonic() > deadline:
            return "never saw " + other
        time.sleep(0.05)
    with open(f"/shared/{other}") as f:
        return f.read()


wrong_app = ketch.App("shared-fs-process")


@wrong_app.function(network_file_systems={"/shared": shared}, runtime="process")
def wrong_runtime() -> None:
    pass
