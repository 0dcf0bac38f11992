"""The dashboard's other pages in a real browser: sandboxes (terminate one), usage and cost
(the chart, and the figures of ``ketch usage``), volumes (browse, download a file), dicts and
queues (peek), secrets (no value may reach the browser), schedules and the node.
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from .browser import dashboard_of, fetch, needs_chromium, shoot, sign_in, start, visit, wait_for
from .server_process import TESTS

pytestmark = needs_chromium
SECRET_VALUE = "s3cr3t-value-that-never-leaves-the-server"

USES_SECRET = """
import ketch
app = ketch.App("uses-secret")

@app.function(secrets=[ketch.Secret.from_name("api")], env={"MODE": "test"})
def keyed():
    import os
    return len(os.environ["API_KEY"])
"""

SANDBOX = """
import pathlib, sys, time
import ketch
app = ketch.App.lookup("dashboard-sandboxes", create_if_missing=True)
sb = ketch.Sandbox.create("sleep", "300", app=app, cpu=0.05, block_network=True)
sb.set_tags({"team": "blue"})
sb.exec("sleep", "200")
print(sb.object_id, flush=True)
print("exit", sb.wait(raise_on_termination=False) or sb.returncode, flush=True)
"""

OBJECTS = """
import ketch
from apps import dashboarded
d = ketch.Dict.from_name("peeked", create_if_missing=True)
d["plain"] = {"n": 1, "items": [1, 2, 3]}
d["object"] = ketch.Retries(max_retries=2)
q = ketch.Queue.from_name("waiting", create_if_missing=True)
q.put_many(["first", "second"])
with dashboarded.app.run():
    dashboarded.greet.remote("usage")
"""


@pytest.fixture
def browser(tmp_path):
    driver = start(tmp_path / "chromium")
    yield driver
    driver.quit()


def signed_in(server, browser) -> str:
    dashboard = dashboard_of(server)
    token = json.loads((server.home / "token.json").read_text())
    sign_in(browser, dashboard, token["token_id"], token["token_secret"])
    return dashboard


def test_terminate_a_sandbox_and_see_the_usage_chart(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    dashboard = signed_in(server, browser)
    client = subprocess.Popen([sys.executable, "-c", SANDBOX], env=server.env(), cwd=TESTS,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sandbox_id = client.stdout.readline().strip()
        assert sandbox_id.startswith("sb-"), client.stderr.read()
        visit(browser, f"{dashboard}/sandboxes")
        row = f"tr[data-sandbox='{sandbox_id}']"
        wait_for(lambda: "sleep 200" in browser.find_element(By.CSS_SELECTOR, row).text,
                 "the sandbox with its exec")
        assert "team=blue" in browser.find_element(By.CSS_SELECTOR, f"{row} .tags").text
        assert "sleep 300" in browser.find_element(By.CSS_SELECTOR, f"{row} .execs").text
        shoot(browser, tmp_path, "sandboxes")
        browser.find_element(By.CSS_SELECTOR, f"{row} button.terminate").click()
        wait_for(lambda: not browser.find_elements(By.CSS_SELECTOR, row), "it to go")
        assert "exit 137" in client.communicate(timeout=60)[0]
    finally:
        client.kill()

    server.client(OBJECTS)
    visit(browser, f"{dashboard}/usage?by=function&since=1d")
    points = wait_for(lambda: browser.execute_script(
        "const c = Chart.getChart(document.getElementById('usage-chart'));"
        "return c && c.data.labels.length ? [c.data.labels, c.data.datasets[0].data] : null"),
        "the usage chart")
    labels, values = points
    assert "dashboarded.greet" in labels and "dashboard-sandboxes.sandbox" in labels
    assert all(v >= 0 for v in values) and any(v > 0 for v in values)
    shoot(browser, tmp_path, "usage")
    cli = json.loads(server.cli("usage", "--by", "function", "--since", "1d", "--json").stdout)
    table = browser.find_element(By.ID, "usage-table").text
    for row in cli:  # the same figures as `ketch usage` (the page rounds cost to 6 places)
        assert f"{row['group']} {row['cpu_s']:.2f} {row['memory_gib_s']:.2f}" in table, row
        assert f"{row['cost']:.6f}" in table, row


def test_volumes_dicts_queues_secrets_schedules_and_nodes(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    (tmp_path / "notes.txt").write_text("hello from a volume\n")
    (tmp_path / "uses_secret.py").write_text(USES_SECRET)
    for args in (("volume", "create", "shared"), ("volume", "put", "shared",
                 str(tmp_path / "notes.txt"), "/docs/notes.txt"),
                 ("secret", "create", "api", f"API_KEY={SECRET_VALUE}", "REGION=eu"),
                 ("deploy", str(TESTS / "apps" / "scheduled.py")),
                 ("deploy", str(tmp_path / "uses_secret.py"))):
        done = server.cli(*args)
        assert done.returncode == 0, done.stderr
    server.client(OBJECTS)
    dashboard = signed_in(server, browser)
    sources = []

    visit(browser, f"{dashboard}/volumes")
    browser.find_element(By.LINK_TEXT, "shared").click()
    browser.find_element(By.LINK_TEXT, "docs/").click()
    link = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "a.download"), "the file")
    assert link.text == "notes.txt"
    shoot(browser, tmp_path, "volume")
    got = fetch(browser, "GET", link.get_attribute("href"))
    assert got == {"status": 200, "body": "hello from a volume\n"}
    sources.append(browser.page_source)

    visit(browser, f"{dashboard}/dicts/peeked")
    entries = browser.find_element(By.ID, "entries").text
    assert "'plain' {'n': 1, 'items': [1, 2, 3]}" in entries
    assert "a pickled ketch.retries.Retries" in entries  # named, never unpickled
    shoot(browser, tmp_path, "dict")
    visit(browser, f"{dashboard}/queues/waiting")
    assert "'first'" in browser.find_element(By.ID, "entries").text
    shoot(browser, tmp_path, "queue")

    visit(browser, f"{dashboard}/secrets")
    assert "API_KEY, REGION" in browser.find_element(By.CSS_SELECTOR, "#objects .keys").text
    shoot(browser, tmp_path, "secrets")
    sources.append(browser.page_source)

    visit(browser, f"{dashboard}/schedules")
    row = browser.find_element(By.CSS_SELECTOR, "tr.schedule")
    assert "tick" in row.text and "Period(seconds=1)" in row.text and "UTC" in row.text
    shoot(browser, tmp_path, "schedules")

    visit(browser, f"{dashboard}/nodes")
    gpus = browser.find_element(By.CSS_SELECTOR, "tr.node .gpus").text
    assert "of 1 A10" in gpus and "of 2 H100" in gpus  # KETCH_FAKE_GPUS, tests/conftest.py
    assert "of" in browser.find_element(By.CSS_SELECTOR, "tr.node .cpu").text
    shoot(browser, tmp_path, "nodes")

    visit(browser, f"{dashboard}/")
    wait_for(lambda: browser.find_element(By.LINK_TEXT, "uses-secret"), "the app").click()
    functions = wait_for(lambda: browser.find_element(By.ID, "functions").text, "its functions")
    assert "1 secret(s)" in functions and "env MODE" in functions
    sources.append(browser.page_source)
    for path in ("/", "/usage", "/sandboxes", "/dicts", "/queues", "/volumes"):
        visit(browser, f"{dashboard}{path}")
        sources.append(browser.page_source)
        shoot(browser, tmp_path, path.strip("/") or "apps")
    assert not any(SECRET_VALUE in source for source in sources)
    cookie = {"ketch_token": browser.get_cookie("ketch_token")["value"]}
    with httpx.Client(base_url=dashboard, cookies=cookie) as raw:  # the answers, as sent
        for path in ("/secrets", "/apps-table", "/volumes/shared?path=docs"):
            answer = raw.get(path)
            assert answer.status_code == 200 and SECRET_VALUE not in answer.text
