"""Rights in the dashboard, in a real browser: a user token rolls a deployed app back with a
button; a read-only token (``ketch token create --read-only``) sees no button that changes
anything, and the dashboard refuses its POSTs."""

from __future__ import annotations

import json

import pytest

from .browser import (
    dashboard_of,
    fetch,
    needs_chromium,
    shoot,
    sign_in,
    start,
    texts,
    visit,
    wait_for,
)
from .server_process import ServerProcess, deploy_version

pytestmark = needs_chromium


@pytest.fixture
def browser(tmp_path):
    driver = start(tmp_path / "chromium")
    yield driver
    driver.quit()


def deployed(server: ServerProcess) -> list[tuple[str, int]]:
    listed = json.loads(server.cli("app", "list", "--json").stdout)
    return [(a["name"], a["version"]) for a in listed]


def test_roll_back_as_a_user_and_look_only_as_read_only(server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    deploy_version(server, "1")
    deploy_version(server, "2")
    dashboard = dashboard_of(server)
    token = json.loads((server.home / "token.json").read_text())
    sign_in(browser, dashboard, token["token_id"], token["token_secret"])
    button = wait_for(lambda: browser.find_element(By.CSS_SELECTOR, "#apps button.rollback"),
                      "the rollback button")
    assert button.text == "Roll back to v1"
    shoot(browser, tmp_path, "apps-versions")
    button.click()
    wait_for(lambda: "deployed v3" in browser.find_element(By.ID, "app-state").text,
             "the rolled-back version")
    versions = browser.find_element(By.ID, "versions").text
    assert "v3" in versions and "v1" in versions  # v3, rolled back from v1
    shoot(browser, tmp_path, "app-versions")
    history = json.loads(server.cli("app", "history", "deployed", "--json").stdout)
    assert [(v["version"], v["rolled_back_from"]) for v in history][-1] == (3, 1)
    app_id = browser.current_url.rsplit("/", 1)[-1]

    made = server.cli("token", "create", "--read-only")
    assert made.returncode == 0 and "not saved as yours" in made.stdout, made.stderr
    fields = dict(line.split(":", 1) for line in made.stdout.splitlines()[:2])
    browser.find_element(By.CSS_SELECTOR, "header form button").click()  # sign out
    sign_in(browser, dashboard, fields["token id"].strip(), fields["token secret"].strip())
    assert "read-only" in browser.find_element(By.ID, "who").text
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#apps tr.app"), "the apps")
    assert not browser.find_elements(By.CSS_SELECTOR, "main button")  # no stop, no rollback
    visit(browser, f"{dashboard}/apps/{app_id}")
    wait_for(lambda: texts(browser, "#versions tr.version"), "the versions")
    assert not browser.find_elements(By.CSS_SELECTOR, "main button")
    shoot(browser, tmp_path, "app-read-only")
    for path in (f"/apps/{app_id}/stop", f"/apps/{app_id}/rollback"):
        refused = fetch(browser, "POST", path)
        assert refused["status"] == 403 and "read-only token may not" in refused["body"], refused
    refused = fetch(browser, "POST", "/sandboxes/sb-none/terminate")
    assert refused["status"] == 403
    assert deployed(server) == [("deployed", 3)]  # nothing changed
