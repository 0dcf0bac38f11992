"""One function specialised per pipeline stage with ``with_options`` at module level (as
modal-examples' multistage pipeline does); each stage's container calls the next stage's
variant, and the last variant mounts a volume the base function does not."""

import os

import modal

app = modal.App("compat-stage-variants")
out = modal.Volume.from_name("compat-stage-variants-out", create_if_missing=True)


@app.function()
def stage(value, index):
    if index + 1 < len(STAGES):
        return STAGES[index + 1].remote(value * 10, index + 1)
    with open("/out/result.txt", "w") as f:
        f.write(str(value))
    out.commit()
    return f"{value} {sorted(os.listdir('/out'))}"


STAGES = [
    stage.with_options(cpu=1, max_containers=2),
    stage.with_options(max_containers=1),
    stage.with_options(volumes={"/out": out}),
]


@app.local_entrypoint()
def main():
    print("result", STAGES[0].remote(4, 0))
