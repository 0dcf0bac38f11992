import ketch

app = ketch.App("lone")


@app.function()
def only(n: int = 3):
    print("only ran with", n)
    return n
