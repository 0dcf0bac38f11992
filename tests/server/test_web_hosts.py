"""Each endpoint at its own host name, ``<label>.<domain>``: a site that redirects to /login and
links and fetches by absolute paths works there, in a real browser (Debian's chromium, which
resolves *.localhost itself), served by `ketch serve` as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from .server_process import TESTS, free_port, interrupt

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The URL `ketch serve` printed for the site, with ``domain = "localhost"`` set."""
    home = tmp_path_factory.mktemp("hosts") / "home"
    home.mkdir()
    (home / "config.toml").write_text('[gateway]\ndomain = "localhost"\n')
    env = {**os.environ, "KETCH_HOME": str(home), "KETCH_GATEWAY_PORT": str(free_port()),
           "KETCH_SERVER": ""}
    serve = subprocess.Popen([sys.executable, "-m", "ketch.cli", "serve",
                              str(TESTS / "apps" / "web_hosts.py")], env=env,
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = ""
        while "site: " not in line:
            line = serve.stdout.readline()
            assert line, "ketch serve ended before it listed its endpoints"
        yield line.split("site: ")[1].strip()
    finally:
        interrupt(serve)
        serve.stdout.close()


def gateway_get(url: str, path: str) -> httpx.Response:
    """GET ``path`` of ``url`` by its host name, over a connection to the gateway's address
    (Python's resolver here may not know *.localhost)."""
    port = url.rsplit(":", 1)[1]
    host = url.split("//")[1]
    for _ in range(300):  # the first request waits for the container
        response = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Host": host},
                             timeout=60)
        if response.status_code != 503:
            return response
        time.sleep(0.2)
    raise AssertionError("the gateway kept answering 503")


def test_the_url_names_the_endpoints_host(site):
    assert site.startswith("http://signin-site.localhost:")
    redirect = gateway_get(site, "/")
    assert redirect.status_code == 303 and redirect.headers["location"] == "/login"
    assert "sign in" in gateway_get(site, "/login").text


@pytest.mark.skipif(not CHROMIUM, reason="needs Debian's chromium (./dev.sh test installs it)")
def test_a_browser_follows_the_sites_absolute_redirect_links_and_fetches(site, tmp_path):
    gateway_get(site, "/")  # started

    def page(url: str) -> str:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=5000",
             "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True)
        return done.stdout

    login = page(site + "/")  # redirected to /login on the same host
    host = site.split("//")[1]
    assert "<h1>sign in</h1>" in login
    assert f"asked {host} for /api/me" in login  # fetch("/api/me") reached the app
    assert 'href="/account"' in login
    assert "the account page, at /account" in page(site + "/account")
