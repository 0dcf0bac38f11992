import ketch

VERSION = "1"  # the deploy test rewrites this between deploys
app = ketch.App("deployed")


@app.function()
def which(x):
    print(f"which ran with {x}")
    return f"v{VERSION}:{x}"


@app.cls()
class Greeter:
    greeting: str = ketch.parameter(default="hello")

    @ketch.method()
    def greet(self, name):
        return f"{self.greeting} {name} from v{VERSION}"
