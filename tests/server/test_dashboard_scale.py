"""The dashboard stays one page of rows however many calls an app has: a real ``ketch
server``, an app (tests/apps/crowded.py) given 10,000 calls by a client, and its pages fetched as a signed-in user."""

from __future__ import annotations

import json
import re
import time

import httpx

from .browser import dashboard_of

CALLS = """
from concurrent.futures import ThreadPoolExecutor
from apps.crowded import app, noop
with app.run():
    print(app.app_id, flush=True)
    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(noop.remote, range(10_000))) == sum(range(10_000))
    print("done", flush=True)
"""


def test_an_app_with_ten_thousand_calls_answers_one_page(server):
    app_id, done = server.client(CALLS).split()
    assert done == "done"
    token = json.loads((server.home / "token.json").read_text())
    cookies = {"ketch_token": f"{token['token_id']}:{token['token_secret']}"}
    with httpx.Client(base_url=dashboard_of(server), cookies=cookies, timeout=30) as client:
        started = time.monotonic()
        page = client.get(f"/apps/{app_id}/calls")
        first_s = time.monotonic() - started
        assert page.status_code == 200
        assert len(re.findall(r'<tr class="call"', page.text)) == 50
        assert "10000 call(s) kept" in page.text
        older = client.get(f"/apps/{app_id}/calls", params={"offset": 9_980})
        assert len(re.findall(r'<tr class="call"', older.text)) == 20
        assert client.get(f"/apps/{app_id}").status_code == 200
        shown = re.findall(r"/calls/(fc-[0-9a-f]+)", page.text)
        inputs = client.get(f"/calls/{shown[0]}/inputs")
        assert inputs.status_code == 200 and 'data-index="0"' in inputs.text
    print(f"first page of 10,000 calls in {first_s * 1000:.0f} ms")
