"""A class whose web_server method starts a server of its own beside its @method()s (as
modal-examples' xgboost_optuna_search serves optuna-dashboard from the class that runs the
study, and ollama_deployment its server): the @enter state is shared, the server gets its
own URL, and the methods are called with .remote() as usual. As in Modal, the server has
started before the container runs an input: the dashboard reloads the study's volume, which it
could not do while a method held a file of it open."""

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import modal

PORT = 8731
app = modal.App("compat-class-web-server")
volume = modal.Volume.from_name("compat-class-web-server", create_if_missing=True)


@app.cls(volumes={"/data": volume})
class Study:
    @modal.enter()
    def begin(self):
        Path("/data/journal").write_text("0.5\n0.75\n")

    @modal.method()
    def best(self) -> float:
        with open("/data/journal") as journal:  # open while the study runs
            time.sleep(2)
            return max(float(line) for line in journal)

    @modal.web_server(PORT, startup_timeout=30)
    def dashboard(self):
        time.sleep(0.5)
        volume.reload()  # as the optuna dashboard does, before it reads the journal
        best = max(float(line) for line in Path("/data/journal").read_text().split())
        with open("/tmp/index.html", "w") as page:
            page.write(f"best so far {best}")
        subprocess.Popen([sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1",
                          "--directory", "/tmp"])


@app.local_entrypoint()
def main():
    study = Study()
    print("best", study.best.remote())
    with urllib.request.urlopen(study.dashboard.get_web_url() + "/index.html",
                                timeout=60) as page:
        print("dashboard", page.read().decode())
