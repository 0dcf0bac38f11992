"""The requests the dashboard makes that the SDK does not, on a real control plane, as a
read-only token makes them: every app of an environment a page at a time (stopped ones too),
one app by id after it stopped, a page of a dict, a secret's key names (never its values), and
an app's stored lines of one container, paged backwards."""

from __future__ import annotations

import asyncio
import pickle

from ketch.protocol import client as protocol
from ketch.server import ControlPlane


def test_listings_pages_and_key_names_for_a_read_only_token(tmp_path):
    async def main() -> None:
        cp = ControlPlane(tmp_path)
        await cp.start()
        try:
            cp.environments.create("dev")
            apps = [cp.app_service.create(f"app-{i}", "main") for i in range(3)]
            cp.app_service.create("elsewhere", "dev")
            await cp.app_service.stop(apps[0].id)
            token_id, secret = cp.tokens.create("user", read_only=True)
            viewer = cp._authenticate(protocol.Auth(token_id=token_id, secret=secret))

            async def ask(request: protocol.Request) -> object:
                return await cp.handle(request, viewer)

            running = await ask(protocol.AppList())
            assert sorted(a.name for a in running.apps) == ["app-1", "app-2"]
            every = await ask(protocol.AppList(stopped=True, limit=2))
            assert [a.name for a in every.apps] == ["app-2", "app-1"]  # newest first
            older = await ask(protocol.AppList(stopped=True, offset=2, limit=2))
            assert [(a.name, a.state) for a in older.apps] == [("app-0", "stopped")]
            found = await ask(protocol.AppGet(app_id=apps[0].id))
            assert (found.app.state, found.app.environment) == ("stopped", "main")

            d, _ = cp.objects.lookup("dict", "peeked", "main", create_if_missing=True)
            await cp.handle(protocol.DictUpdate(dict_id=d, items=[
                (pickle.dumps(i), pickle.dumps(i * i)) for i in range(5)]))
            page = await ask(protocol.DictItems(dict_id=d, offset=3, limit=5))
            assert [pickle.loads(k) for k, _ in page.items] == [3, 4]
            made = await cp.handle(protocol.SecretCreate(name="api", values={"B": "x", "A": "y"}))
            keys = await ask(protocol.SecretKeys(secret_id=made.secret_id))
            assert keys.keys == ["A", "B"]

            for i in range(6):
                cp.logbook.add(apps[1].id, "f", f"ct-{i % 2}", None, "stdout", f"line {i}")
            newest = await ask(protocol.LogsQuery(object_id=apps[1].id, container_id="ct-1",
                                                  tail=2))
            assert [(line.text, line.function) for line in newest.lines] == [
                ("line 3", "f"), ("line 5", "f")]
            before = await ask(protocol.LogsQuery(object_id=apps[1].id, container_id="ct-1",
                                                  tail=2, before=newest.lines[0].id))
            assert [line.text for line in before.lines] == ["line 1"]
        finally:
            await cp.close()

    asyncio.run(main())
