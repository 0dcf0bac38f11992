"""A function that drives a sandbox from inside its container, as agents do on Modal."""

import ketch

app = ketch.App("sandboxer")


@app.function()
def run_in_sandbox(code: str) -> tuple[str, str]:
    sb = ketch.Sandbox.create(block_network=True)  # no app=: the function's own
    try:
        return sb.exec("python", "-c", code).stdout.read(), sb.object_id
    finally:
        sb.terminate()
