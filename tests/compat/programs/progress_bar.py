"""A remote function that shows a tqdm progress bar (as modal-examples' tqdm_progress_bar):
each state of the bar reaches the terminal while the function runs, rather than all of them
in one line once the bar ends."""

import time

import modal

app = modal.App("compat-progress-bar", image=modal.Image.debian_slim().pip_install("tqdm"))


@app.function()
def count(n: int) -> int:
    from tqdm import tqdm

    for _ in tqdm(range(n), mininterval=0):
        time.sleep(0.2)
    return n


@app.local_entrypoint()
def main():
    print("counted", count.remote(5))
