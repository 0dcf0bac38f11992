"""Classes the tests run in real containers."""


import ketch

from apps.identity import container_identity

app = ketch.App("classes")


@app.cls()
class Counter:
    start: int = ketch.parameter(default=0)
    label: str = ketch.parameter(default="c")

    @ketch.enter()
    def setup(self):
        self.entered = getattr(self, "entered", 0) + 1
        self.count = self.start

    @ketch.method()
    def incr(self, by=1):
        self.count += by
        return f"{self.label}:{self.count}"

    @ketch.method()
    def state(self):
        return self.entered, container_identity()

    @ketch.method()
    def stream(self, n):
        yield from range(n)

    @ketch.exit()
    def teardown(self):
        print(f"exit hook ran for {self.label}")


@app.cls()
class NeedsParam:
    name: str = ketch.parameter()

    @ketch.method()
    def hello(self):
        return "hello " + self.name


@app.cls()
class BrokenEnter:
    @ketch.enter()
    def setup(self):
        raise RuntimeError("enter failed on purpose")

    @ketch.method()
    def run(self):
        return "never"
