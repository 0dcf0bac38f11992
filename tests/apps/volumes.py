"""Functions that share a volume."""

import os

import ketch

vol = ketch.Volume.from_name("test-shared", create_if_missing=True)
app = ketch.App("volumes", volumes={"/data": vol})


@app.function(runtime="namespace")
def write(name, text, commit=True):
    with open(f"/data/{name}", "w") as f:
        f.write(text)
    if commit:
        vol.commit()
    return sorted(os.listdir("/data"))


@app.function(runtime="namespace", max_containers=1)
def read(name, reload=True):
    before = open(f"/data/{name}").read() if os.path.exists(f"/data/{name}") else None
    if reload:
        vol.reload()
    after = open(f"/data/{name}").read() if os.path.exists(f"/data/{name}") else None
    return before, after


@app.function(runtime="namespace")
def reload_with_open_file(name):
    handle = open(f"/data/{name}")
    try:
        vol.reload()
    except ketch.exception.InvalidError as exc:
        return str(exc)
    finally:
        handle.close()
    return "reloaded"


@app.function(runtime="namespace")
def list_through_handle(volume):
    return [entry.path for entry in volume.listdir("/")]


wrong_app = ketch.App("volumes-process")


@wrong_app.function(runtime="process", volumes={"/data": vol})
def on_process():
    return 1


@app.function(runtime="namespace")
def commit_through_swapped_layer(target):
    """Put a link to ``target`` (a host folder, as the control plane sees paths) where this
    container's writable layer of the volume was, then commit: what does the commit take?"""
    import shutil

    layers = f"/run/ketch/volumes/layers/{vol.object_id}"
    with open("/data/mine.txt", "w") as f:
        f.write("mine")
    shutil.rmtree(f"{layers}/upper-0")
    os.symlink(target, f"{layers}/upper-0")
    try:
        vol.commit()
    except ketch.exception.Error as exc:
        return str(exc)
    return "committed"
