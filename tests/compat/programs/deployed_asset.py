"""A deployed app whose image adds a file found next to its module (as modal-examples' streamlit
app adds its app.py): its containers import the module again, from the deployed version's own
copy, where that file is not, and start all the same."""

from pathlib import Path

import modal

asset = Path(__file__).parent / "deployed_asset.txt"
image = modal.Image.debian_slim().add_local_file(asset, remote_path="/root/asset.txt")
app = modal.App("compat-deployed-asset", image=image)


@app.function()
def read_asset() -> str:
    return Path("/root/asset.txt").read_text().strip()
