"""A class whose web_server method starts a server of its own beside its @method()s (as
modal-examples' xgboost_optuna_search serves optuna-dashboard from the class that runs the
study, and ollama_deployment its server): the @enter state is shared, the server gets its
own URL, and the methods are called with .remote() as usual."""

import subprocess
import sys
import urllib.request

import modal

PORT = 8731
app = modal.App("compat-class-web-server")


@app.cls()
class Study:
    @modal.enter()
    def begin(self):
        self.trials = [0.5, 0.75]

    @modal.method()
    def best(self) -> float:
        return max(self.trials)

    @modal.web_server(PORT, startup_timeout=30)
    def dashboard(self):
        with open("/tmp/index.html", "w") as page:
            page.write(f"best so far {max(self.trials)}")
        subprocess.Popen([sys.executable, "-m", "http.server", str(PORT), "--bind", "127.0.0.1",
                          "--directory", "/tmp"])


@app.local_entrypoint()
def main():
    study = Study()
    print("best", study.best.remote())
    with urllib.request.urlopen(study.dashboard.get_web_url() + "/index.html",
                                timeout=60) as page:
        print("dashboard", page.read().decode())
