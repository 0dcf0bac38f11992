"""Run by `ketch run` after `ketch secret create cli-secret ...`: prints what the container saw."""

import os

import ketch

app = ketch.App("secrets-cli")


@app.function(secrets=[ketch.Secret.from_name("cli-secret", required_keys=["API_KEY"])])
def api_key():
    return os.environ.get("API_KEY")


@app.local_entrypoint()
def main():
    print("container saw", api_key.remote())
