"""A deployed app whose image puts a file beside its module in the container, and that checks
when imported that the file is there (as modal-examples' serve_streamlit.py does with its
app.py): a deployed version's own copy of the module is put where Modal puts it, /root, so the
file is found from ``__file__`` in its containers as on the machine that deployed it."""

from pathlib import Path

import modal

beside = Path(__file__).parent / "deployed_asset.txt"
if not beside.exists():
    raise RuntimeError(f"{beside} not found! Place it in the same directory as this module.")
image = modal.Image.debian_slim().add_local_file(beside, remote_path="/root/deployed_asset.txt")
app = modal.App("compat-deployed-beside", image=image)


@app.function()
def read_beside() -> str:
    return f"{beside.read_text().strip()} from {beside.parent}"
