"""``ketch dict`` and ``ketch queue``: in this process (the embedded control plane), and against
a standalone ``ketch server`` that is restarted between writing and reading back."""

from __future__ import annotations

import json
import uuid

from click.testing import CliRunner
from server.server_process import ServerProcess

import ketch
from ketch.cli.main import cli


def ketch_cli(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def fresh_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def test_dict_create_list_items_clear_delete():
    name = fresh_name("d")
    assert f"created dict {name}" in ketch_cli("dict", "create", name)
    failed = CliRunner().invoke(cli, ["dict", "create", name])
    assert failed.exit_code != 0 and "already exists" in failed.output
    ketch.Dict.from_name(name).update({"a": [1, 2], ("t", 1): b"[b]"})
    listed = json.loads(ketch_cli("dict", "list", "--json"))
    assert {"name": name, "len": 2}.items() <= next(r for r in listed if r["name"] == name).items()
    assert name in ketch_cli("dict", "list")
    assert json.loads(ketch_cli("dict", "items", name, "--json")) == [
        {"key": "'a'", "value": "[1, 2]"}, {"key": "('t', 1)", "value": "b'[b]'"},
    ]
    assert json.loads(ketch_cli("dict", "items", name, "1", "--json")) == [
        {"key": "'a'", "value": "[1, 2]"},
    ]
    table = ketch_cli("dict", "items", name)
    assert "[1, 2]" in table and "b'[b]'" in table  # shown as text, not as rich markup
    assert "cleared" in ketch_cli("dict", "clear", name, input="y\n")
    assert ketch.Dict.from_name(name).len() == 0
    refused = CliRunner().invoke(cli, ["dict", "delete", name], input="n\n")
    assert refused.exit_code != 0 and ketch.Dict.from_name(name).len() == 0
    ketch_cli("dict", "delete", name, "--yes")
    missing = CliRunner().invoke(cli, ["dict", "items", name])
    assert missing.exit_code == 1 and f"no dict named {name!r}" in missing.output
    assert "Traceback" not in missing.output


def test_queue_create_list_peek_len_clear_delete():
    name = fresh_name("q")
    ketch_cli("queue", "create", name)
    q = ketch.Queue.from_name(name)
    q.put_many(["first", {"second": 2}, 3])
    q.put_many(["p1", "p2"], partition="p")
    listed = json.loads(ketch_cli("queue", "list", "--json"))
    assert next(r for r in listed if r["name"] == name)["len"] == 5
    assert name in ketch_cli("queue", "list")
    assert ketch_cli("queue", "peek", name) == "'first'\n"
    assert ketch_cli("queue", "peek", name, "2") == "'first'\n{'second': 2}\n"
    assert ketch_cli("queue", "peek", name, "5", "--partition", "p") == "'p1'\n'p2'\n"
    assert q.len() == 3  # peeking removes nothing
    assert ketch_cli("queue", "len", name) == "3\n"
    assert ketch_cli("queue", "len", name, "--partition", "p") == "2\n"
    assert ketch_cli("queue", "len", name, "--total") == "5\n"
    ketch_cli("queue", "clear", name, "--partition", "p", "--yes")
    assert ketch_cli("queue", "len", name, "--total") == "3\n"
    ketch_cli("queue", "clear", name, "--all", "--yes")
    assert ketch_cli("queue", "len", name, "--total") == "0\n"
    ketch_cli("queue", "delete", name, "--yes")
    missing = CliRunner().invoke(cli, ["queue", "len", name])
    assert missing.exit_code == 1 and f"no queue named {name!r}" in missing.output


WRITE = """
import ketch
d = ketch.Dict.from_name("keep", create_if_missing=True)
d.update({"a": 1, ("b", 2): [3]})
q = ketch.Queue.from_name("jobs", create_if_missing=True)
q.put_many(["one", "two"])
q.put("p", partition="p")
"""

READ = """
import ketch
d = ketch.Dict.from_name("keep")
q = ketch.Queue.from_name("jobs")
print(list(d.items()), q.get_many(5), q.get(partition="p"), q.len(total=True))
"""


def test_dicts_and_queues_survive_a_server_restart(tmp_path):
    server = ServerProcess(tmp_path)
    server.start()
    try:
        server.client(WRITE)
        server.restart()
        items = json.loads(server.cli("dict", "items", "keep", "--json").stdout)
        assert items == [{"key": "'a'", "value": "1"}, {"key": "('b', 2)", "value": "[3]"}]
        assert server.cli("queue", "peek", "jobs", "5").stdout == "'one'\n'two'\n"
        assert server.client(READ).strip() == "[('a', 1), (('b', 2), [3])] ['one', 'two'] p 0"
    finally:
        server.stop()
