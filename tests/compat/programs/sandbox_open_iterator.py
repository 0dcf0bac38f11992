"""A sandbox whose exec's stdout is read part way through `next()`, then terminated: the
program must print everything and exit, leaving its iterator unfinished."""

import modal

app = modal.App.lookup("compat-sandbox-iterator", create_if_missing=True)


def first_line(stream):
    # a function here keeps this module's globals, `lines` among them, alive until exit
    return next(stream).strip()


sb = modal.Sandbox.create(app=app)
proc = sb.exec("sh", "-c", "echo first; echo second; sleep 60", bufsize=1)
lines = iter(proc.stdout)
print("got", first_line(lines))
sb.terminate()
print("terminated")
