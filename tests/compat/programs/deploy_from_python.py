"""A script that deploys its own app with ``app.deploy()`` (run as ``python script.py``, as
modal-examples' pool managers do), then calls it through the handles and by name."""

import modal

app = modal.App("compat-deploy-from-python")


@app.function()
def double(x):
    return 2 * x


if __name__ == "__main__":
    deployed = app.deploy()
    print("same app", deployed is app)
    print("handle", double.remote(21))
    print("by name", modal.Function.from_name("compat-deploy-from-python", "double").remote(4))
