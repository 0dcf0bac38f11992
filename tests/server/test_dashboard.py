"""The dashboard in a real browser, on a real ``ketch server``, as a user watches an app.

A client process runs tests/apps/dashboarded.py while the test watches its page: a call held
in the queue behind another until the test opens their gate, then done; a log line arriving; a failed input's traceback; the
containers' sampled CPU and memory; a call's own page and logs. Pages are photographed under
the test's tmp dir (and, with KETCH_UPDATE_DOCS set, the apps and app pages into docs/).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from .browser import (
    console_errors,
    dashboard_of,
    needs_chromium,
    shoot,
    sign_in,
    start,
    texts,
    visit,
    wait_for,
)
from .server_process import TESTS

pytestmark = needs_chromium
DOCS = TESTS.parent / "docs"

RUN = """
import pathlib, sys, time
from apps import dashboarded
go, gate, end = (pathlib.Path(p) for p in sys.argv[1:4])
with dashboarded.app.run():
    print(dashboarded.app.app_id, flush=True)
    while not go.exists():
        time.sleep(0.05)
    print(dashboarded.greet.remote("ada"), flush=True)
    try:
        dashboarded.explode.remote("kaboom-42")
    except RuntimeError:
        print("raised", flush=True)
    dashboarded.gate["open"] = False
    first = dashboarded.held.spawn(1)
    second = dashboarded.held.spawn(2)
    print(second.object_id, flush=True)
    while not gate.exists():
        time.sleep(0.05)
    dashboarded.gate["open"] = True
    print(first.get(), second.get(), flush=True)
    while not end.exists():
        time.sleep(0.05)
"""


@pytest.fixture
def browser(tmp_path):
    driver = start(tmp_path / "chromium")
    yield driver
    driver.quit()


def test_sign_in_run_an_app_and_watch_its_calls_logs_and_failure(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    dashboard = dashboard_of(server)
    token = json.loads((server.home / "token.json").read_text())

    visit(browser, f"{dashboard}/")  # signed out: to the sign-in page
    assert "/signin" in browser.current_url
    browser.find_element(By.ID, "token_id").send_keys("ak-wrong")
    browser.find_element(By.ID, "token_secret").send_keys("as-wrong")
    browser.find_element(By.ID, "signin").click()
    # the click submits a form: the answer's page replaces this one when it comes
    refusal = wait_for(lambda: browser.find_element(By.ID, "signin-error"), "the refusal")
    assert "refused" in refusal.text
    shoot(browser, tmp_path, "signin")
    sign_in(browser, dashboard, token["token_id"], token["token_secret"])

    go, gate, end = tmp_path / "go", tmp_path / "gate", tmp_path / "end"
    client = subprocess.Popen([sys.executable, "-c", RUN, str(go), str(gate), str(end)],
                              env=server.env(), cwd=TESTS, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        app_id = client.stdout.readline().strip()
        assert app_id.startswith("ap-"), client.stderr.read()
        visit(browser, f"{dashboard}/")
        row = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#apps tr.app"), "an app")
        assert "dashboarded" in row.text and "running" in row.text
        apps_shot = shoot(browser, tmp_path, "apps")

        visit(browser, f"{dashboard}/apps/{app_id}")
        wait_for(lambda: browser.find_element(By.ID, "logs-status").text == "live", "the stream")
        functions = browser.find_element(By.ID, "functions").text
        assert "greet" in functions and "explode" in functions and "max 1" in functions
        go.touch()  # the calls begin while the page watches
        wait_for(lambda: "hello ada, from the dashboard's test"
                 in browser.find_element(By.ID, "logs").text, "the log line, live")
        assert client.stdout.readline().strip() == "hi ada"
        assert client.stdout.readline().strip() == "raised"
        queued_call = client.stdout.readline().strip()
        status = f"#calls tr[data-call='{queued_call}'] .call-status"
        wait_for(lambda: texts(browser, status) == ["queued"], "the second call, queued")
        queued_shot = shoot(browser, tmp_path, "app-queued")
        gate.touch()
        wait_for(lambda: texts(browser, status) == ["done"], "the queued call, done")
        assert client.stdout.readline().strip() == "1 2"
        wait_for(lambda: sorted(texts(browser, "#calls .call-status"))
                 == ["done", "done", "done", "failed"], "every call to end")
        browser.find_element(By.CSS_SELECTOR, "#calls details summary").click()
        traceback = browser.find_element(By.CSS_SELECTOR, "#calls pre.traceback").text
        assert "RuntimeError: kaboom-42" in traceback and "Traceback" in traceback
        # the worker's samples of each container's cgroup, live
        wait_for(lambda: any(any(c.isdigit() for c in t.split("/")[0])
                             for t in texts(browser, "#containers .cpu")), "a CPU sample")
        assert "ready" in browser.find_element(By.ID, "containers").text
        assert browser.find_elements(By.ID, "stop-app")  # a user token may stop it
        app_shot = shoot(browser, tmp_path, "app")

        # filters: a container's lines, then a search that matches nothing
        browser.find_element(By.ID, "log-search").send_keys("no-such-words")
        wait_for(lambda: "hello ada" not in browser.find_element(By.ID, "logs").text,
                 "the search to hide the line")
        browser.find_element(By.ID, "log-search").clear()
        browser.find_element(By.ID, "log-search").send_keys("hello")
        wait_for(lambda: "hello ada" in browser.find_element(By.ID, "logs").text,
                 "the search to find the line")

        failed = browser.find_element(By.CSS_SELECTOR, "#calls tr.failure").find_element(
            By.XPATH, "preceding-sibling::tr[1]").get_attribute("data-call")
        visit(browser, f"{dashboard}/calls/{failed}")
        summary = wait_for(lambda: browser.find_element(By.ID, "call-summary").text, "inputs")
        assert "failed" in summary
        assert "RuntimeError: kaboom-42" in browser.find_element(By.ID, "inputs").text
        assert texts(browser, "#inputs .input-status") == ["failed"]
        shoot(browser, tmp_path, "call")
        browser.back()
        greeted = wait_for(lambda: [r.get_attribute("data-call") for r in browser.find_elements(
            By.CSS_SELECTOR, "#calls tr.call") if "greet" in r.text], "the greet call")
        visit(browser, f"{dashboard}/calls/{greeted[0]}")  # a call's own lines, from the logbook
        wait_for(lambda: "hello ada, from the dashboard's test"
                 in browser.find_element(By.ID, "logs").text, "the call's logs")
        assert token["token_secret"] not in browser.page_source
    finally:
        end.touch()
        client.communicate(timeout=60)  # closes its pipes
    assert not console_errors(browser)
    if os.environ.get("KETCH_UPDATE_DOCS"):  # the docs' pictures, only when asked: a test run
        shutil.copy(apps_shot, DOCS / "dashboard-apps.png")  # leaves the tree as it was
        shutil.copy(app_shot, DOCS / "dashboard-app.png")
    assert queued_shot.exists()


def test_a_page_with_a_console_error_is_caught(server, browser):
    visit(browser, f"{dashboard_of(server)}/signin")
    assert not console_errors(browser)
    browser.execute_script("console.error('planted')")
    assert any("planted" in line for line in console_errors(browser))
