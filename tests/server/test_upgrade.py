"""A state directory made before there were environments: everything in it moves into ``main``
when a control plane opens it, and nothing is lost."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import msgspec

from ketch.protocol import client as protocol
from ketch.server import ControlPlane
from ketch.server.auth import _digest

from apps import basic

# The tables as ketch made them before environments (the columns that matter here).
BEFORE = """
CREATE TABLE apps (id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT,
    state TEXT NOT NULL, created REAL NOT NULL, stopped REAL);
CREATE TABLE functions (id TEXT PRIMARY KEY, app_id TEXT NOT NULL, name TEXT NOT NULL,
    definition BLOB NOT NULL, params BLOB, created REAL NOT NULL);
CREATE TABLE calls (id TEXT PRIMARY KEY, function_id TEXT NOT NULL, kind TEXT NOT NULL,
    created REAL NOT NULL, expires REAL NOT NULL, inputs INTEGER,
    finished INTEGER NOT NULL DEFAULT 0);
CREATE TABLE call_outputs (call_id TEXT NOT NULL, position INTEGER NOT NULL,
    record BLOB NOT NULL, PRIMARY KEY (call_id, position));
CREATE TABLE objects (id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT,
    created REAL NOT NULL, ephemeral INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX objects_by_name ON objects (kind, name) WHERE name IS NOT NULL;
CREATE TABLE dict_entries (dict_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
    UNIQUE (dict_id, key));
CREATE TABLE deployments (name TEXT NOT NULL, version INTEGER NOT NULL, app_id TEXT NOT NULL,
    created REAL NOT NULL, rolled_back_from INTEGER, PRIMARY KEY (name, version));
CREATE TABLE tokens (id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, kind TEXT NOT NULL,
    created REAL NOT NULL, revoked REAL);
"""


def _old_state(directory) -> None:
    db = sqlite3.connect(directory / "ketch.db")
    db.executescript(BEFORE)
    now = time.time()
    definition = msgspec.msgpack.encode(basic.square.definition)
    db.execute("INSERT INTO apps VALUES ('ap-old', 'old', '', 'stopped', ?, ?)", (now, now))
    db.execute("INSERT INTO apps VALUES ('ap-new', 'old', '', 'running', ?, NULL)", (now,))
    for app_id, function_id in (("ap-old", "fu-old"), ("ap-new", "fu-new")):
        db.execute("INSERT INTO functions VALUES (?, ?, 'square', ?, NULL, ?)",
                   (function_id, app_id, definition, now))
    db.execute("INSERT INTO deployments VALUES ('old', 1, 'ap-old', ?, NULL)", (now,))
    db.execute("INSERT INTO deployments VALUES ('old', 2, 'ap-new', ?, NULL)", (now,))
    db.execute("INSERT INTO calls VALUES ('fc-kept', 'fu-new', 'spawn', ?, ?, 1, 1)",
               (now, now + 3600))
    db.execute("INSERT INTO call_outputs VALUES ('fc-kept', 0, ?)",
               (msgspec.msgpack.encode([0, "ok", b"\x80\x05K\x07.", None]),))
    db.execute("INSERT INTO objects VALUES ('di-kept', 'dict', 'cache', ?, 0)", (now,))
    db.execute("INSERT INTO dict_entries VALUES ('di-kept', X'01', X'02')")
    db.execute("INSERT INTO tokens VALUES ('ak-old', ?, 'user', ?, NULL)",
               (_digest("as-old"), now))
    db.commit()
    db.close()


def test_state_from_before_environments_moves_into_main(tmp_path):
    _old_state(tmp_path)

    async def main() -> None:
        cp = ControlPlane(tmp_path)
        await cp.start()
        try:
            owner = cp._authenticate(protocol.Auth(token_id="ak-old", secret="as-old"))
            assert owner.admin  # tokens made before were for everything: they still are
            apps = (await cp.handle(protocol.AppList(), owner)).apps
            assert [(a.name, a.version, a.environment) for a in apps] == [("old", 2, "main")]
            found = await cp.handle(protocol.FunctionLookup(app_name="old", tag="square"), owner)
            assert found.function_id == "fu-new"
            history = await cp.handle(protocol.AppHistory(name="old"), owner)
            assert [v.version for v in history.versions] == [1, 2]
            cached = await cp.handle(protocol.ObjectLookup(kind="dict", name="cache"), owner)
            assert cached.object_id == "di-kept"
            entry = await cp.handle(protocol.DictGet(dict_id="di-kept", key=b"\x01"), owner)
            assert entry.value == b"\x02"
            outputs = await cp.handle(protocol.OutputsGet(call_id="fc-kept", cursor=0), owner)
            assert outputs.done and outputs.outputs[0].data == b"\x80\x05K\x07."
            await cp.handle(protocol.EnvironmentCreate(name="dev"), owner)
            again = await cp.handle(protocol.ObjectLookup(  # a name of main's is free in dev
                kind="dict", name="cache", environment="dev", create_if_missing=True), owner)
            assert again.created and again.object_id != "di-kept"
        finally:
            await cp.close()

    asyncio.run(main())
    db = sqlite3.connect(tmp_path / "ketch.db")
    rows = db.execute("SELECT environment, name, version FROM deployments ORDER BY version")
    assert rows.fetchall() == [("main", "old", 1), ("main", "old", 2)]
    assert json.loads(json.dumps(db.execute("SELECT environments FROM tokens").fetchall())) \
        == [[None]]
