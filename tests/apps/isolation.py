"""Functions that probe the namespace runtime from inside."""

import os
import time

import ketch

app = ketch.App("isolation")


@app.function(runtime="namespace")
def probe(host_pid, host_file):
    seen = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    try:
        os.kill(host_pid, 0)
        can_signal = True
    except ProcessLookupError:
        can_signal = False
    with open(host_file, "w") as f:
        f.write("written inside")
    with open("/etc/ketch-scratch-test", "w") as f:
        f.write("scratch")
    disks = [d for d in os.listdir("/dev") if d.startswith(("sd", "vd", "nvme"))]
    return {"pids": seen, "can_signal": can_signal, "hostname": os.uname().nodename,
            "read_back": open(host_file).read(), "disks": disks}


@app.function(runtime="namespace", memory=64)
def hog(mib):
    blocks = []
    for _ in range(mib):
        blocks.append(bytearray(2**20))
    return len(blocks)


@app.function(runtime="namespace", cpu=(0.5, 0.5))
def burn(seconds):
    """Spin for `seconds` of wall time; return the CPU seconds this process got."""
    start = time.monotonic()
    cpu0 = time.process_time()
    while time.monotonic() - start < seconds:
        pass
    return time.process_time() - cpu0


@app.function(runtime="namespace")
def scratch_dir():
    return os.uname().nodename
