"""A function whose outbound HTTP goes through the egress proxy named "test-proxy"."""

import urllib.request

import ketch

app = ketch.App("proxied")


@app.function(proxy=ketch.Proxy.from_name("test-proxy"))
def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode()


unknown_app = ketch.App("proxied-unknown")


@unknown_app.function(proxy=ketch.Proxy.from_name("no-such-proxy"))
def nothing() -> None:
    pass
