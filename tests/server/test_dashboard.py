"""The dashboard in a real browser: Debian's chromium, driven through its chromedriver.

A real ``ketch server`` serves it; a client process runs tests/apps/dashboarded.py. Each page
is photographed under the test's tmp dir; a page that logs an error in the browser's console
fails its test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .server_process import TESTS

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (./dev.sh test installs them as root)")
DOCS = TESTS.parent / "docs"

RUN = """
import pathlib, sys, time
from apps import dashboarded
go, end = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with dashboarded.app.run():
    print(dashboarded.app.app_id, flush=True)
    while not go.exists():
        time.sleep(0.05)
    print(dashboarded.greet.remote("ada"), flush=True)
    try:
        dashboarded.explode.remote("kaboom-42")
    except RuntimeError:
        print("raised", flush=True)
    while not end.exists():
        time.sleep(0.05)
"""


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


def wait_for(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
            if found:
                return found
        except Exception:  # noqa: BLE001 - the element may be mid-swap
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def shoot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / "screenshots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(path))
    return path


def test_sign_in_run_an_app_and_watch_its_calls_logs_and_failure(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    dashboard = json.loads((server.home / "server.json").read_text())["dashboard"]
    token = json.loads((server.home / "token.json").read_text())

    browser.get(f"{dashboard}/")  # signed out: to the sign-in page
    assert "/signin" in browser.current_url
    browser.find_element(By.ID, "token_id").send_keys("ak-wrong")
    browser.find_element(By.ID, "token_secret").send_keys("as-wrong")
    browser.find_element(By.ID, "signin").click()
    assert "refused" in browser.find_element(By.ID, "signin-error").text
    shoot(browser, tmp_path, "signin")
    browser.find_element(By.ID, "token_id").send_keys(token["token_id"])
    browser.find_element(By.ID, "token_secret").send_keys(token["token_secret"])
    browser.find_element(By.ID, "signin").click()
    wait_for(lambda: browser.find_element(By.ID, "apps"), "the apps list")

    go, end = tmp_path / "go", tmp_path / "end"
    client = subprocess.Popen([sys.executable, "-c", RUN, str(go), str(end)], env=server.env(),
                              cwd=TESTS, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        app_id = client.stdout.readline().strip()
        assert app_id.startswith("ap-"), client.stderr.read()
        browser.get(f"{dashboard}/")
        row = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#apps tr.app"), "an app")
        assert "dashboarded" in row.text and "running" in row.text
        apps_shot = shoot(browser, tmp_path, "apps")
        assert not console_errors(browser)

        browser.get(f"{dashboard}/apps/{app_id}")
        wait_for(lambda: browser.find_element(By.ID, "logs-status").text == "live", "the stream")
        functions = browser.find_element(By.ID, "functions").text
        assert "greet" in functions and "explode" in functions
        go.touch()  # the calls begin while the page watches
        wait_for(lambda: "hello ada, from the dashboard's test"
                 in browser.find_element(By.ID, "logs").text, "the log line, live")
        wait_for(lambda: "raised" in client.stdout.readline(), "the client's calls")
        statuses = wait_for(lambda: [
            e.text for e in browser.find_elements(By.CSS_SELECTOR, "#calls .call-status")
        ] if len(browser.find_elements(By.CSS_SELECTOR, "#calls .call-status")) == 2
            and "running" not in browser.find_element(By.ID, "calls").text else None,
            "both calls to end")
        assert sorted(statuses) == ["done", "failed"]
        browser.find_element(By.CSS_SELECTOR, "#calls details summary").click()
        traceback = browser.find_element(By.CSS_SELECTOR, "#calls pre.traceback").text
        assert "RuntimeError: kaboom-42" in traceback and "Traceback" in traceback
        assert "ready" in browser.find_element(By.ID, "containers").text
        assert browser.find_elements(By.ID, "stop-app")  # a user token may stop it
        app_shot = shoot(browser, tmp_path, "app")
        assert not console_errors(browser)
        assert token["token_secret"] not in browser.page_source
    finally:
        end.touch()
        client.communicate(timeout=60)  # closes its pipes
    if os.environ.get("KETCH_UPDATE_DOCS"):  # the docs' pictures, only when asked: a test run
        shutil.copy(apps_shot, DOCS / "dashboard-apps.png")  # leaves the tree as it was
        shutil.copy(app_shot, DOCS / "dashboard-app.png")


def test_a_page_with_a_console_error_is_caught(server, browser):
    dashboard = json.loads((server.home / "server.json").read_text())["dashboard"]
    browser.get(f"{dashboard}/signin")
    assert not console_errors(browser)
    browser.execute_script("console.error('planted')")
    assert any("planted" in line for line in console_errors(browser))
