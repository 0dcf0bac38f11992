"""A real browser for the dashboard's tests: Debian's chromium, driven through its chromedriver
(Selenium), signed in with a token of a real ``ketch server``.

Each page a test shows is photographed under its tmp dir (``screenshots/NAME.png``); a page
that logs an error in the browser's console fails its test (`shoot` checks).

Chromium abandons a page load or a request with ERR_NETWORK_CHANGED when the host's network
interfaces change, which they do here whenever a test (ours or another's on the machine) makes
a sandbox's network namespace; `visit` and `fetch` try again then, and only then.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (./dev.sh test installs them as root)")


def start(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(0)
    driver.set_script_timeout(40)
    return driver


NETWORK_CHANGED = "ERR_NETWORK_CHANGED"


def visit(driver: Any, url: str, tries: int = 30) -> None:
    """Open ``url``, again a second later if the host's network changed under the load."""
    for _ in range(tries):
        driver.get(url)
        if NETWORK_CHANGED not in driver.page_source:
            return
        time.sleep(1.0)
    raise AssertionError(f"{url}: the network changed under each of {tries} loads")


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE"]


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
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


def shoot(driver: Any, tmp_path: Path, name: str) -> Path:
    """Photograph the page as ``screenshots/NAME.png``, and fail on a console error."""
    path = tmp_path / "screenshots" / f"{name}.png"
    path.parent.mkdir(exist_ok=True)
    driver.save_screenshot(str(path))
    errors = console_errors(driver)
    assert not errors, f"the {name} page logged errors: {errors}"
    return path


def dashboard_of(server: Any) -> str:
    return str(json.loads((server.home / "server.json").read_text())["dashboard"])


def sign_in(driver: Any, dashboard: str, token_id: str, secret: str) -> None:
    from selenium.webdriver.common.by import By

    visit(driver, f"{dashboard}/signin")
    driver.find_element(By.ID, "token_id").send_keys(token_id)
    driver.find_element(By.ID, "token_secret").send_keys(secret)
    driver.find_element(By.ID, "signin").click()
    wait_for(lambda: driver.find_element(By.ID, "who"), "the signed-in header")


def texts(driver: Any, selector: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, selector)]


def fetch(driver: Any, method: str, path: str) -> dict[str, Any]:
    """A request from the page's own script (its origin and cookie): status and body."""
    for attempt in range(3):  # a request the network change cut is made again
        time.sleep(0.5 if attempt else 0)
        answer = dict(driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[1], {method: arguments[0], signal: AbortSignal.timeout(20000)})"
            ".then(r => r.text().then(t => done({status: r.status, body: t})))"
            ".catch(e => done({status: 0, body: String(e)}));", method, path))
        if answer["status"]:
            return answer
    raise AssertionError(f"{method} {path} got no answer: {answer['body']}")
