"""Run code nobody reviewed in a sandbox: a session that keeps its files between commands,
no network, and a deadline. Run it with `ketch python examples/sandbox.py`."""

import ketch

# Code as an agent might write it: it cannot see this machine's files nor reach its network.
UNTRUSTED = """
import os, socket
print("the host's ~/.ssh and /etc/shadow:", os.path.exists("/root/.ssh"), os.path.exists("/etc/shadow"))
try:
    socket.create_connection(("example.com", 80), timeout=2)
except OSError as exc:
    print("no network:", type(exc).__name__)
open("/work/result.txt", "w").write("42")
"""

app = ketch.App.lookup("sandbox-example", create_if_missing=True)
sb = ketch.Sandbox.create(app=app, block_network=True, timeout=120, workdir="/work")
try:
    sb.filesystem.write_text(UNTRUSTED, "/work/agent.py")
    run = sb.exec("python", "agent.py")
    print(run.stdout.read(), end="")
    print("exit status", run.wait())
    print("it left behind:", sb.filesystem.read_text("/work/result.txt"))
finally:
    sb.terminate()
