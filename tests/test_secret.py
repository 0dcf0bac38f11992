"""Secrets: stored encrypted, given as environment variables to the containers of the functions
that ask for them and to no others, checked when the app starts."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import stat
from pathlib import Path

import msgspec
import pytest

import ketch
from ketch import config, exception, synchronizer
from ketch.client import get_client
from ketch.dotenv import parse_dotenv
from ketch.protocol import client as protocol

from apps import secrets_app

NAMES = ["TOKEN", "FROM_DICT", "SHARED", "APP_WIDE", "BOTH", "CLS_KEY"]
TOKEN = f"tok-{secrets.token_hex(12)}"


@pytest.fixture(scope="module", autouse=True)
def running():
    ketch.Secret.objects.create(secrets_app.NAMED, {"TOKEN": TOKEN})
    with secrets_app.app.run():
        yield


def request(req: protocol.Request):
    async def send():
        return await (await get_client()).request(req)

    return synchronizer.run(send())


def state_files() -> list[Path]:
    home = config.home()
    return [home / name for name in ("ketch.db", "ketch.db-wal") if (home / name).exists()]


def query(sql: str, *args: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(config.home() / "ketch.db")) as db:
        return db.execute(sql, args).fetchall()


def stored_definition(function_id: str) -> dict:
    [(blob,)] = query("SELECT definition FROM functions WHERE id=?", function_id)
    return msgspec.msgpack.decode(blob)


def test_secrets_reach_the_functions_that_ask_and_no_others():
    seen = secrets_app.with_secrets.remote(NAMES)
    assert seen["TOKEN"] == TOKEN and seen["FROM_DICT"] == secrets_app.DICT_VALUE
    assert seen["SHARED"] == "function"  # a function's own secrets come after the app's
    assert seen["APP_WIDE"] == "everywhere" and seen["CLS_KEY"] is None
    other = secrets_app.without_secrets.remote(NAMES)
    assert other == {"TOKEN": None, "FROM_DICT": None, "SHARED": "app", "APP_WIDE": "everywhere",
                     "BOTH": None, "CLS_KEY": None}
    in_class = secrets_app.Reader().env.remote(["CLS_KEY", "TOKEN", "APP_WIDE"])
    assert in_class == {"CLS_KEY": "cls-value", "TOKEN": None, "APP_WIDE": "everywhere"}


def test_env_wins_over_secrets():
    assert secrets_app.env_and_secret.remote(["BOTH"]) == {"BOTH": "env"}


def test_values_are_not_stored_in_plain_text():
    secrets_app.with_secrets.remote(["TOKEN"])
    definition = stored_definition(secrets_app.with_secrets.object_id)
    assert len(definition["secrets"]) == 3  # the app's, then the function's two
    assert all(s.startswith("st-") for s in definition["secrets"])
    files = state_files()
    assert files and query("SELECT count(*) FROM secret_values")[0][0] >= 3  # sealed, there
    for path in files:
        data = path.read_bytes()
        for value in (TOKEN, secrets_app.DICT_VALUE):
            assert value.encode() not in data, f"{value} in plain text in {path}"


def test_key_file_is_readable_by_its_owner_only():
    mode = stat.S_IMODE(os.stat(config.home() / "secret.key").st_mode)
    assert mode == 0o600


def test_missing_required_key_fails_the_start_and_names_the_fix():
    app = ketch.App("secrets-missing-key")
    required = ketch.Secret.from_name(secrets_app.NAMED, required_keys=["TOKEN", "NOT_THERE"])
    app.function(serialized=True, secrets=[required])(lambda: None)
    with pytest.raises(exception.NotFoundError) as info:
        with app.run():
            pass
    message = str(info.value)
    assert "NOT_THERE" in message and secrets_app.NAMED in message
    assert "ketch secret create" in message and TOKEN not in message
    assert app.app_id is None  # nothing was made: no app, no function, no container


def test_missing_named_secret_fails_the_start():
    app = ketch.App("secrets-missing")
    app.function(serialized=True, secrets=[ketch.Secret.from_name("no-such-secret")])(
        lambda: None)
    with pytest.raises(exception.NotFoundError,
                       match=r"no secret named 'no-such-secret'.*ketch secret create no-such-secret"):
        with app.run():
            pass
    assert app.app_id is None


def test_from_local_environ(monkeypatch):
    value = f"local-{secrets.token_hex(8)}"
    monkeypatch.setenv("KETCH_TEST_LOCAL_VALUE", value)
    secret = ketch.Secret.from_local_environ(["KETCH_TEST_LOCAL_VALUE"])
    # containers inherit the host's environment, so the variable goes before they start: what
    # they see came through the secret
    monkeypatch.delenv("KETCH_TEST_LOCAL_VALUE")
    app = ketch.App("secrets-local")

    def read():
        import os

        return os.environ.get("KETCH_TEST_LOCAL_VALUE")

    f = app.function(serialized=True, secrets=[secret])(read)
    with app.run():
        assert f.remote() == value
    with pytest.raises(exception.InvalidError, match="KETCH_TEST_NOT_SET not set"):
        ketch.Secret.from_local_environ(["KETCH_TEST_NOT_SET"])


def test_from_dotenv_with_a_path_and_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "# settings\nexport USER_NAME=ada  # inline comment\nQUOTED=\"two words\\nline\"\n"
        "RAW='#not a comment'\n"
    )
    (tmp_path / "sub").mkdir()

    def read(names):
        import os

        return {n: os.environ.get(n) for n in names}

    app = ketch.App("secrets-dotenv")
    from_path = app.function(serialized=True, secrets=[ketch.Secret.from_dotenv(tmp_path / "sub")],
                             name="from_path")(read)
    monkeypatch.chdir(tmp_path)
    from_cwd = app.function(serialized=True, secrets=[ketch.Secret.from_dotenv()],
                            name="from_cwd")(read)
    expected = {"USER_NAME": "ada", "QUOTED": "two words\nline", "RAW": "#not a comment"}
    with app.run():
        assert from_path.remote(list(expected)) == expected
        assert from_cwd.remote(list(expected)) == expected


def test_from_dotenv_with_a_path_and_no_file_fails_the_start(tmp_path):
    app = ketch.App("secrets-dotenv-missing")
    app.function(serialized=True,
                 secrets=[ketch.Secret.from_dotenv(tmp_path, filename=".env.nowhere")])(
        lambda: None)
    with pytest.raises(exception.InvalidError, match=r"no \.env\.nowhere in"):
        with app.run():
            pass
    assert app.app_id is None


def test_run_secrets_are_dropped_when_the_app_stops():
    app = ketch.App("secrets-ephemeral")
    f = app.function(serialized=True, secrets=[ketch.Secret.from_dict({"K": "v"})])(
        lambda: __import__("os").environ["K"])
    with app.run():
        assert f.remote() == "v"
        (secret_id,) = stored_definition(f.object_id)["secrets"]
    assert query("SELECT * FROM objects WHERE id=?", secret_id) == []
    assert query("SELECT * FROM secret_values WHERE id=?", secret_id) == []


def test_a_secret_deleted_while_the_app_runs_is_left_out_and_logged():
    ketch.Secret.objects.create("short-lived", {"GONE": "soon"})
    app = ketch.App("secrets-deleted")
    f = app.function(serialized=True, secrets=[ketch.Secret.from_name("short-lived")])(
        lambda: __import__("os").environ.get("GONE"))
    with app.run():
        ketch.Secret.objects.delete("short-lived")
        assert f.remote() is None
        lines = request(protocol.LogsGet(app_id=app.app_id, cursor=0, timeout=1.0)).lines
    assert any("starts without the keys of secret" in line.text for line in lines)


def test_secret_objects_create_list_delete():
    ketch.Secret.objects.create("managed", {"A": "1"})
    with pytest.raises(exception.AlreadyExistsError, match="--force"):
        ketch.Secret.objects.create("managed", {"A": "2"})
    ketch.Secret.objects.create("managed", {"A": "2"}, allow_existing=True)
    assert "managed" in [s.name for s in ketch.Secret.objects.list()]
    ketch.Secret.objects.delete("managed")
    assert "managed" not in [s.name for s in ketch.Secret.objects.list()]
    with pytest.raises(exception.NotFoundError, match="no secret named 'managed'"):
        ketch.Secret.objects.delete("managed")
    ketch.Secret.objects.delete("managed", allow_missing=True)


@pytest.mark.parametrize(
    ("secrets_kw", "match"),
    [
        ([{"API_KEY": "sk-live-123"}], r"a list holding a dict \(wrap a dict in ketch.Secret"),
        (ketch.Secret.from_dict({"A": "b"}), "must be a list of ketch.Secret"),
        (["sk-live-123"], "a list holding a str"),
    ],
)
def test_bad_secrets_keyword_is_refused_without_showing_values(secrets_kw, match):
    with pytest.raises(exception.InvalidError, match=match) as info:
        ketch.App("bad").function(secrets=secrets_kw)
    assert "sk-live-123" not in str(info.value)
    with pytest.raises(exception.InvalidError, match="must be a list of ketch.Secret"):
        ketch.App("bad", secrets=secrets_kw)


def test_bad_values_are_refused_early_without_showing_them():
    with pytest.raises(exception.InvalidError, match="'PORT' has a int") as info:
        ketch.Secret.from_dict({"PORT": 5432, "PASSWORD": "hunter2"})
    assert "5432" not in str(info.value)
    assert ketch.Secret.from_dict({"A": None}) is not None  # None values are left out
    with pytest.raises(exception.InvalidError, match="cannot be a secret's key"):
        ketch.Secret.objects.create("bad-key", {"NOT-AN-ENV-NAME": "x"})
    with pytest.raises(exception.InvalidError, match="a secret needs values"):
        ketch.Secret.from_name("x", create_if_missing=True)


def test_dotenv_format():
    text = (
        "# comment\n\nexport A=1\nB = spaced value   # note\nC=a#b\nD='single # kept \\n'\n"
        'E="esc \\"q\\" \\\\ \\t"\nF="multi\nline"  # after\nFLAG\nA=2\n'
    )
    assert parse_dotenv(text) == {
        "A": "2", "B": "spaced value", "C": "a#b", "D": "single # kept \\n",
        "E": 'esc "q" \\ \t', "F": "multi\nline",
    }


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("GOOD=1\nnot valid sk-secret\n", "line 2: expected KEY=VALUE"),
        ('K="sk-secret\n', "line 1: the quoted value of K is never closed"),
        ("K='sk-secret' tail\n", "line 1: unexpected text after the quoted value of K"),
    ],
)
def test_dotenv_errors_name_the_line_not_the_value(text, match):
    with pytest.raises(exception.InvalidError, match=match) as info:
        parse_dotenv(text, "x.env")
    assert "sk-secret" not in str(info.value) and "x.env" in str(info.value)
