import ketch  # under `ketch run`, `import modal` gives the same module

app = ketch.App("hello")


@app.function(cpu=1, memory=512, timeout=60, retries=2)
def square(x):
    print("working on", x)
    return x * x


@app.local_entrypoint()
def main(n: int = 200):
    print(square.local(3), square.remote(4), sum(square.map(range(n))))
