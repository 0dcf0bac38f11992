import modal  # resolves to ketch under `ketch run`

app = modal.App("pkg-tool")


@app.function()
def shout(word: str = "hi"):
    print("shouting", word)
    return word.upper()


@app.local_entrypoint()
def main(word: str = "hey", times: int = 2, loud: bool = False, ratio: float = 0.5):
    result = shout.remote(word)
    print("result", result * times, loud, ratio)
