"""A class with a method called with `.remote()` and a web endpoint beside it, in one container
(as modal-examples' text_to_image `Inference`: `run` for `modal run`, `web` for the browser,
which calls `run` in the same container; audiosr_endpoint, which spawns a method of its own
class from another)."""

import json
import urllib.request

import modal

app = modal.App("compat-class-method-and-endpoint",
                image=modal.Image.debian_slim().pip_install("fastapi"))


@app.cls()
class Greeter:
    @modal.enter()
    def load(self):
        self.greeting = "hello"

    @modal.method()
    def greet(self, name: str) -> str:
        return f"{self.greeting} {name}"

    @modal.method()
    def greet_elsewhere(self, name: str) -> str:
        # in another input, perhaps another container, as Modal runs them
        return f"{self.greet.remote(name)}, {self.greet.spawn(name.upper()).get()}"

    @modal.fastapi_endpoint()
    def web(self, name: str = "web"):
        return {"greeting": self.greet.local(name)}  # in this container, on this instance


@app.local_entrypoint()
def main():
    greeter = Greeter()
    print("remote", greeter.greet.remote("ada"))
    with urllib.request.urlopen(greeter.web.get_web_url() + "?name=bob", timeout=60) as answer:
        print("web", json.loads(answer.read())["greeting"])
    print("map", list(greeter.greet.map(["cy", "di"])))
    print("local", greeter.web.local(name="eve")["greeting"])
    print("elsewhere", greeter.greet_elsewhere.remote("fay"))
