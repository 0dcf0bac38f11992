"""Rights in the dashboard, in a real browser: a user token rolls a deployed app back with a
button; a read-only token (``ketch token new --read-only``) sees no button that changes
anything, and the dashboard refuses its POSTs; a token of one environment sees that
environment's apps alone, as a viewer there sees them without buttons."""

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
from .server_process import TESTS, ServerProcess, deploy_version

pytestmark = needs_chromium


@pytest.fixture
def browser(tmp_path):
    driver = start(tmp_path / "chromium")
    yield driver
    driver.quit()


def new_token(server: ServerProcess, *options: str) -> tuple[str, str]:
    """A token made with ``ketch token new OPTIONS --no-save``: its id and secret."""
    made = server.cli("token", "new", *options, "--no-save")
    assert made.returncode == 0, made.stderr
    fields = dict(line.split(":", 1) for line in made.stdout.splitlines()[:2])
    return fields["token id"].strip(), fields["token secret"].strip()


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

    token_id, secret = new_token(server, "--read-only")
    browser.find_element(By.ID, "signout").click()
    sign_in(browser, dashboard, token_id, secret)
    assert "read-only" in browser.find_element(By.ID, "who").text
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#apps tr.app"), "the apps")
    assert not browser.find_elements(By.CSS_SELECTOR, "main button")  # no stop, no rollback
    visit(browser, f"{dashboard}/apps/{app_id}")
    wait_for(lambda: texts(browser, "#versions tr.version"), "the versions")
    assert not browser.find_elements(By.CSS_SELECTOR, "main button")
    shoot(browser, tmp_path, "app-read-only")
    for path in (f"/apps/{app_id}/stop", f"/apps/{app_id}/rollback"):
        refused = fetch(browser, "POST", path)
        assert refused["status"] == 403 and "read-only token" in refused["body"], refused
    refused = fetch(browser, "POST", "/sandboxes/sb-none/terminate")
    assert refused["status"] == 403
    assert deployed(server) == [("deployed", 3)]  # nothing changed


def test_one_environment_at_a_time_and_only_those_the_token_may_use(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    assert server.cli("environment", "create", "dev").returncode == 0
    deploy_version(server, "1")  # in main
    made = server.cli("deploy", "--env", "dev", str(TESTS / "apps" / "scheduled.py"))
    assert made.returncode == 0, made.stderr
    dashboard = dashboard_of(server)
    token = json.loads((server.home / "token.json").read_text())
    sign_in(browser, dashboard, token["token_id"], token["token_secret"])
    names = lambda: texts(browser, "#apps tr.app td:first-child")  # noqa: E731
    wait_for(lambda: names() == ["deployed"], "main's app alone")
    assert [o.text for o in Select(browser.find_element(By.ID, "env")).options] == \
        ["dev", "main"]
    Select(browser.find_element(By.ID, "env")).select_by_visible_text("dev")
    wait_for(lambda: names() == ["scheduled"], "dev's app alone")
    visit(browser, f"{dashboard}/schedules")
    assert "tick" in browser.find_element(By.CSS_SELECTOR, "tr.schedule").text
    main_app = next(a["app_id"] for a in json.loads(server.cli("app", "list", "--json").stdout))

    viewer_id, viewer_secret = new_token(server, "--env", "dev")
    assert server.cli("token", "grant", viewer_id, "dev", "viewer").returncode == 0
    browser.find_element(By.ID, "signout").click()
    sign_in(browser, dashboard, viewer_id, viewer_secret)
    assert "viewer in dev" in browser.find_element(By.ID, "who").text
    wait_for(lambda: names() == ["scheduled"], "dev's app, its only environment")
    assert [o.text for o in Select(browser.find_element(By.ID, "env")).options] == ["dev"]
    assert not browser.find_elements(By.CSS_SELECTOR, "main button")
    shoot(browser, tmp_path, "apps-viewer")
    visit(browser, f"{dashboard}/apps/{main_app}")  # main's: not the token's to see
    assert "no rights in environment 'main'" in browser.find_element(By.TAG_NAME, "main").text
    visit(browser, f"{dashboard}/environment?name=main")
    assert "no rights in environment 'main'" in browser.find_element(By.TAG_NAME, "main").text
