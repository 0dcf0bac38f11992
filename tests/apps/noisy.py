"""Functions whose output is hostile to whoever reads it."""

import sys

import ketch

app = ketch.App("noisy")

HUGE = 10 << 20


@app.function()
def long_line(n):
    sys.stdout.write("x" * HUGE)  # one line of 10 MiB, never ended by a newline
    sys.stdout.flush()
    return n


@app.function()
def many_lines(n):
    for i in range(n):
        print(f"line {i}")
    sys.stdout.flush()
    return n
