"""`Secret`: environment variables for the containers of the functions that ask for them.

A named secret is stored (encrypted) by the control plane and found when an app starts. A
secret made here (``from_dict``, ``from_dotenv``, ``from_local_environ``) reads its values on
this machine when the app starts and sends them to the control plane, which keeps them for the
length of the run. Functions carry secret ids, never values.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from . import config, exception
from .client import Client, get_client, send_blocking
from .context import is_local
from .dotenv import find_dotenv, read_dotenv
from .object import NamedObject
from .protocol import client as protocol

__all__ = ["Secret", "SecretManager"]


class SecretManager:
    """``Secret.objects``: create, list and delete named secrets.

    Example::

        ketch.Secret.objects.create("db", {"PASSWORD": "hunter2"})
        [s.name for s in ketch.Secret.objects.list()]    # ["db"]
        ketch.Secret.objects.delete("db")
    """

    def create(self, name: str, env_dict: dict[str, str], *, allow_existing: bool = False,
               environment_name: str | None = None, client: Any = None) -> None:
        """Store a named secret; with ``allow_existing``, an existing one is left as it is."""
        values = _checked(env_dict, "Secret.objects.create")
        try:
            send_blocking(protocol.SecretCreate(
                name=name, values=values, environment=environment_name or config.environment()))
        except exception.AlreadyExistsError:
            if not allow_existing:
                raise

    def list(self, *, environment_name: str | None = None, client: Any = None) -> list[Secret]:
        """The named secrets, newest first."""
        rows = send_blocking(protocol.ObjectList(
            kind="secret", environment=environment_name or config.environment())).objects
        rows.sort(key=lambda row: row.created, reverse=True)
        return [Secret(object_id=row.id, name=row.name) for row in rows]

    def delete(self, name: str, *, allow_missing: bool = False,
               environment_name: str | None = None, client: Any = None) -> None:
        """Delete a named secret. Apps using it start their next containers without it."""
        try:
            send_blocking(protocol.ObjectDelete(
                kind="secret", name=name, environment=environment_name or config.environment()))
        except exception.NotFoundError:
            if not allow_missing:
                raise exception.NotFoundError(
                    f"no secret named {name!r}; `ketch secret list` shows the secrets there are"
                ) from None


class Secret(NamedObject):
    """A set of environment variables given to a function's containers.

    Example::

        @app.function(secrets=[
            ketch.Secret.from_name("db", required_keys=["PASSWORD"]),
            ketch.Secret.from_dict({"MODE": "test"}),
        ])
        def connect():
            return os.environ["PASSWORD"], os.environ["MODE"]
    """

    KIND = "secret"
    objects = SecretManager()

    def __init__(self, *, object_id: str | None = None, name: str | None = None,
                 create_if_missing: bool = False, required_keys: list[str] | None = None,
                 load: Callable[[], dict[str, str]] | None = None,
                 environment_name: str | None = None) -> None:
        super().__init__(object_id=object_id, name=name, environment_name=environment_name)
        self._required_keys = list(required_keys or [])
        self._load = load  # reads the values of a secret made here; None for a named one

    @classmethod
    def from_name(cls, name: str, *, environment_name: str | None = None,
                  create_if_missing: bool = False, required_keys: list[str] | None = None,
                  client: Any = None) -> Secret:
        """The secret stored under ``name`` (with ``ketch secret create``), found when the app
        starts; the start fails if it is missing or lacks one of ``required_keys``."""
        if create_if_missing:
            raise exception.InvalidError(
                "a secret needs values: create it with `ketch secret create NAME KEY=VALUE` or "
                "Secret.objects.create(name, {...}), or use Secret.from_dict({...})"
            )
        keys = list(required_keys or [])
        if not all(isinstance(k, str) for k in keys):
            raise exception.InvalidError("required_keys must be a list of str")
        secret = super().from_name(name, environment_name=environment_name, client=client)
        secret._required_keys = keys
        return secret

    @staticmethod
    def from_dict(env_dict: dict[str, str | None] | None = None) -> Secret:
        """A secret of these values (keys whose value is None are left out)."""
        values = _checked(env_dict or {}, "Secret.from_dict")
        return Secret(load=lambda: dict(values))

    @staticmethod
    def from_local_environ(env_keys: list[str]) -> Secret:
        """A secret of these variables' values in this process's environment (read now).
        Inside a container, where they were already given, it is empty."""
        if isinstance(env_keys, str) or not all(isinstance(k, str) for k in env_keys):
            raise exception.InvalidError("Secret.from_local_environ needs a list of names")
        if not is_local():
            return Secret.from_dict({})
        missing = [k for k in env_keys if k not in os.environ]
        if missing:
            raise exception.InvalidError(
                f"Secret.from_local_environ: {', '.join(missing)} not set in this environment; "
                "set them before running the app"
            )
        return Secret.from_dict({k: os.environ[k] for k in env_keys})

    @staticmethod
    def from_dotenv(path: str | os.PathLike[str] | None = None, *,
                    filename: str = ".env", client: Any = None) -> Secret:
        """A secret of the variables in a ``.env`` file, read when the app starts.

        With ``path`` (a file, such as ``__file__``, or a directory) the file is looked for
        there and in the directories above it; without, in the directory of the calling file,
        then in the working directory and above it (no file: an empty secret, as in Modal).
        """
        if path is not None:
            starts, required = [os.fspath(path)], True
        else:
            caller = sys._getframe(1).f_globals.get("__file__")
            starts = [os.path.dirname(os.path.abspath(caller))] if caller else []
            starts.append(os.getcwd())
            required = False

        def load() -> dict[str, str]:
            found = find_dotenv(starts, filename, walk_first=required)
            if found is None:
                if required:
                    raise exception.InvalidError(
                        f"Secret.from_dotenv: no {filename} in {starts[0]} or any directory "
                        "above it (path is where the search starts; pass filename=... for "
                        "another file name)"
                    )
                return {}
            return read_dotenv(found)

        return Secret(load=load)

    # -- ids -----------------------------------------------------------------------------------

    async def _id_for_run(self, client: Client, environment: str = "") -> str:
        """The id a function's definition carries: a named secret's (its required keys
        checked), or that of a new ephemeral secret of the values read here, which the
        control plane drops when the app stops; of ``environment`` ("": the caller's)."""
        if self._load is None:
            if self.name is None:  # rebuilt from its id, as in a container
                if self._object_id is None:
                    raise exception.InvalidError(
                        "make a Secret with Secret.from_name, from_dict, from_dotenv or "
                        "from_local_environ"
                    )
                return self._object_id
            answer = await client.request(protocol.SecretLookup(
                name=self.name, required_keys=self._required_keys,
                environment=self._environment or environment or config.environment()))
            self._object_id = str(answer.secret_id)
            return self._object_id
        answer = await client.request(protocol.SecretCreate(
            name=None, values=self._load(), environment=environment or config.environment()))
        return str(answer.secret_id)

    async def _resolve(self) -> tuple[Client, str]:
        client = self._client or await get_client()
        if self._object_id is None:
            self._object_id = await self._id_for_run(client)
        return client, self._object_id

    def __repr__(self) -> str:
        return f"Secret({self.name!r})" if self.name else "Secret(<values>)"


async def ids_for_run(client: Client, secrets: dict[str, list[Secret]], environment: str
                      ) -> dict[str, list[str]]:
    """Each function's secret ids, for an app of ``environment`` that is starting. Named
    secrets are looked up and local values read before any secret is made, so a missing secret
    or a bad ``.env`` fails the start with nothing left behind; a secret shared by functions is
    sent once."""
    unique = list({id(s): s for group in secrets.values() for s in group}.values())
    made = {id(s): await s._id_for_run(client, environment) for s in unique if s._load is None}
    values = {id(s): s._load() for s in unique if s._load is not None}
    for key, env in values.items():
        answer = await client.request(protocol.SecretCreate(name=None, values=env,
                                                            environment=environment))
        made[key] = str(answer.secret_id)
    return {tag: [made[id(s)] for s in group] for tag, group in secrets.items()}


def check_secrets(secrets: Any) -> None:
    """Raise InvalidError unless ``secrets=`` is a list of Secret (the message names types,
    never what was passed: it may hold credentials)."""
    if isinstance(secrets, (list, tuple)):
        bad = [s for s in secrets if not isinstance(s, Secret)]
        if not bad:
            return
        what = f"a list holding a {type(bad[0]).__name__}"
    else:
        bad, what = [secrets], f"a {type(secrets).__name__}"
    hint = " (wrap a dict in ketch.Secret.from_dict({...}))" if isinstance(bad[0], dict) else ""
    raise exception.InvalidError(
        "secrets must be a list of ketch.Secret, such as [ketch.Secret.from_name('my-secret')]"
        f", not {what}{hint}"
    )


def _checked(env_dict: Any, what: str) -> dict[str, str]:
    if not isinstance(env_dict, dict):
        raise exception.InvalidError(f"{what} needs a dict of str to str, not a "
                                     f"{type(env_dict).__name__}")
    values = {k: v for k, v in env_dict.items() if v is not None}
    for key, value in values.items():
        if not isinstance(key, str) or not isinstance(value, str):
            # name the key and the type, never the value: it may be a credential
            raise exception.InvalidError(
                f"{what} needs str keys and str values; {key!r} has a {type(value).__name__}"
                if isinstance(key, str) else f"{what} needs str keys, not {type(key).__name__}"
            )
    return values


