"""A Modal program that snapshots a sandbox's memory and files and restores them in a new
sandbox, with Modal 1.5's (still experimental) names: a counter held in a running Python's
memory goes on from where it was."""

import modal

COUNTER = """
import sys
count = 0
for line in sys.stdin:
    count += 1
    print(count, flush=True)
"""

app = modal.App("compat-sandbox-snapshot")


def tick(sb, lines):
    sb.stdin.write("tick\n")
    sb.stdin.drain()
    return next(lines).strip()


@app.local_entrypoint()
def main():
    sb = modal.Sandbox.create("python3", "-c", COUNTER, app=app, runtime="gvisor",
                              _experimental_enable_snapshot=True)
    counted = iter(sb.stdout)
    print("before", [tick(sb, counted) for _ in range(3)])
    sb.exec("sh", "-c", "echo written before > /tmp/notes.txt").wait()
    snapshot = sb._experimental_snapshot()
    print("snapshot id", snapshot.object_id.startswith("sn-"))
    restored = modal.Sandbox._experimental_from_snapshot(
        modal.SandboxSnapshot.from_id(snapshot.object_id))
    print("restored counts on", tick(restored, iter(restored.stdout)))
    print("restored files", restored.exec("cat", "/tmp/notes.txt").stdout.read().strip())
    print("original counts on", tick(sb, counted))
    for each in (sb, restored):
        each.terminate()
    try:
        plain = modal.Sandbox.create("sleep", "30", app=app, runtime="namespace")
        plain._experimental_snapshot()
    except modal.exception.UnimplementedError as exc:
        print("namespace:", str(exc).split(";")[0])
        plain.terminate()
