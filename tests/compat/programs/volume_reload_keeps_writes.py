"""A container that writes to its volume and then reloads it (as modal-examples'
xgboost_optuna_search: the study's journal is written by @enter, and the dashboard method
reloads the volume before it reads the journal): what it wrote stays, committed by the reload
as Modal may do, rather than dropped."""

import uuid
from pathlib import Path

import modal

app = modal.App("compat-volume-reload")
volume = modal.Volume.from_name("compat-volume-reload", create_if_missing=True)


@app.function(volumes={"/data": volume})
def write_then_reload(name: str) -> bool:
    Path("/data", name).write_text("the journal")
    volume.reload()
    return Path("/data", name).is_file()


@app.local_entrypoint()
def main():
    name = f"journal-{uuid.uuid4().hex}.log"
    print("kept after reload", write_then_reload.remote(name))
    print("committed", b"".join(volume.read_file(name)).decode())
