"""Web endpoints through the gateway, over real HTTP, with real containers."""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest

from ketch import client, synchronizer
from ketch.cli.requests import call
from ketch.protocol import client as protocol
from ketch.server import gateway_capacity

from apps import web


@pytest.fixture(scope="module")
def running():
    with web.app.run():
        yield


def named(url: str, label: str) -> bool:
    """Whether ``url`` is the endpoint's: by host (where *.localhost resolves) or by path."""
    return url.endswith(f"/{label}") or url.startswith(f"http://{label}.localhost:")


def control_plane():
    return synchronizer.run(client.get_client()).transport.control_plane


def test_every_kind_answers(running):
    url = web.add.get_web_url()
    assert named(url, "webtest-add")
    assert httpx.post(url, params={"a": 2, "b": 3}, timeout=30).json() == {"sum": 5}
    assert httpx.get(f"{url}/docs", timeout=30).status_code == 200
    with httpx.stream("GET", web.stream.get_web_url() + "/parts", timeout=30) as response:
        parts = list(response.iter_lines())
    assert parts == ["part 0", "part 1", "part 2"]
    assert httpx.get(web.classic.get_web_url() + "/x/y", timeout=30).text == "wsgi /x/y"
    listing = httpx.get(web.files.get_web_url() + "/", timeout=30)
    assert listing.status_code == 200 and "web.py" in listing.text
    gateway = control_plane().gateway.base_url
    assert httpx.get(gateway + "/nothing-here", timeout=30).status_code == 404


def test_proxy_auth_is_refused_then_accepted(running):
    url = web.private.get_web_url()
    assert httpx.get(url, timeout=30).status_code == 401
    token = call(protocol.TokenCreate(kind="proxy"))
    wrong = {"Modal-Key": token.token_id, "Modal-Secret": "nope"}
    assert httpx.get(url, headers=wrong, timeout=30).status_code == 401
    good = {"Modal-Key": token.token_id, "Modal-Secret": token.token_secret}
    response = httpx.get(url, headers=good, timeout=30)
    assert response.status_code == 200 and response.json() == "secret stuff"
    ketch_names = {"Ketch-Key": token.token_id, "Ketch-Secret": token.token_secret}
    assert httpx.get(url, headers=ketch_names, timeout=30).status_code == 200
    call(protocol.EnvironmentCreate(name="elsewhere"))  # scoped to another environment:
    call(protocol.TokenGrant(token_id=token.token_id, environment="elsewhere",
                             role="contributor"))
    assert httpx.get(url, headers=good, timeout=30).status_code == 401  # main's is closed


def test_a_burst_from_zero_loses_no_request_then_scales_back_to_zero(running):
    url = web.slow.get_web_url()
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(lambda _: httpx.get(url, timeout=60), range(40)))
    assert [a.status_code for a in answers] == [200] * 40
    assert len({a.json()["host"] for a in answers}) > 1  # it scaled out
    fn = control_plane().state.functions[web.slow.object_id]
    deadline = time.monotonic() + 15
    while fn.containers and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not fn.containers  # back to zero after the scaledown window


def test_requests_beyond_capacity_get_503_with_retry_after(running, monkeypatch):
    url = web.single.get_web_url()
    assert httpx.get(url, params={"seconds": 0}, timeout=60).status_code == 200  # warm
    monkeypatch.setattr(gateway_capacity, "QUEUE_S", 0.5)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: httpx.get(url, timeout=60), range(3)))
    codes = sorted(a.status_code for a in answers)
    assert codes[0] == 200 and 503 in codes
    assert all(a.headers.get("retry-after") == "5" for a in answers if a.status_code == 503)


def test_web_methods_of_a_class(running):
    greeter = web.Greeter()
    url = greeter.hello.get_web_url()
    assert named(url, "webtest-greeter-hello")
    assert httpx.get(url, params={"name": "ada"}, timeout=30).json() == "hi ada (loaded)"
    assert httpx.get(greeter.app.get_web_url() + "/ping", timeout=30).text == "pong"


def test_an_encoded_line_break_stays_in_one_request_and_credentials_stay_out(running):
    token = call(protocol.TokenCreate(kind="proxy"))
    auth = {"Modal-Key": token.token_id, "Modal-Secret": token.token_secret}
    url = web.echo.get_web_url()
    with httpx.Client(headers=auth, timeout=30) as http:  # one connection, as a pool reuses it
        smuggled = http.get(url + "/a%0D%0AGET%20/smuggled%20HTTP/1.1%0D%0AHost:%20x%0D%0A%0D%0A")
        following = http.get(url + "/next")
    assert smuggled.status_code == 200
    assert smuggled.json()["path"] == "/a\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    assert following.json()["path"] == "/next"  # its own answer, not the smuggled request's
    assert "modal-key" not in following.json()["headers"]
    assert "modal-secret" not in following.json()["headers"]


def test_one_connection_to_two_endpoints_and_two_credentials(running):
    """A kept-open connection the gateway handed to one endpoint's container, then used for
    another endpoint or other credentials: each request still reaches its own endpoint, with
    its own proxy token checked (the container sends it back through the gateway)."""
    token = call(protocol.TokenCreate(kind="proxy"))
    auth = {"Modal-Key": token.token_id, "Modal-Secret": token.token_secret}
    add, parts, echo = (web.add.get_web_url(), web.stream.get_web_url() + "/parts",
                        web.echo.get_web_url())
    with httpx.Client(timeout=30) as http:
        for n in range(3):
            assert http.post(add, params={"a": n, "b": 1}).json() == {"sum": n + 1}
            assert http.get(parts).text == "part 0\npart 1\npart 2\n"
        assert http.get(echo + "/in", headers=auth).json()["path"] == "/in"
        assert http.get(echo + "/anonymous").status_code == 401
        assert http.get(echo + "/again", headers=auth).status_code == 200
        assert http.get(echo + "/wrong", headers={**auth, "Modal-Secret": "no"}).status_code == 401


def test_requests_on_two_kept_open_connections_keep_to_the_capacity(running):
    """Both connections handed to the one container of a function without @concurrent: their
    requests at once still run one at a time."""
    url = web.span.get_web_url()
    with httpx.Client(timeout=60) as first, httpx.Client(timeout=60) as second:
        for http in (first, second):
            assert http.get(url, params={"seconds": 0}).status_code == 200
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda http: http.get(url, params={"seconds": 0.5}),
                                    (first, second)))
    assert [a.status_code for a in answers] == [200, 200]
    (a_began, a_ended), (b_began, b_ended) = sorted(a.json() for a in answers)
    assert a_ended <= b_began  # never both at once


def test_requests_answered_by_containers_are_in_the_gateways_metrics(running):
    url = web.add.get_web_url()
    with httpx.Client(timeout=30) as http:
        for n in range(5):
            assert http.post(url, params={"a": n}).status_code == 200
    metrics = control_plane().metrics
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # containers report every 50 ms
        counted = _sample(metrics.render().decode(), "ketch_gateway_requests_total",
                          'code="200",endpoint="webtest-add"')
        if counted >= 5:
            break
        time.sleep(0.05)
    assert counted >= 5
    assert _sample(metrics.render().decode(), "ketch_gateway_request_seconds_count",
                   'endpoint="webtest-add"') >= 5


def _sample(text: str, name: str, labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{labels}}}"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
