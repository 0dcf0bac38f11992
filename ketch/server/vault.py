"""The secrets service of the control plane: values encrypted at rest.

A secret's values are one JSON object sealed with Fernet (AES-128-CBC with an HMAC-SHA256)
under the key in ``KETCH_HOME/secret.key``, made with mode 0600 on the first start. Only the
ciphertext reaches the database. Values are opened when a container of a function that asked
for the secret starts, into that container's environment, and nowhere else: never into a
function's stored definition (which carries secret ids), a log line or an error message.

Example::

    vault = SecretService(store, objects, state_dir / "secret.key")
    answer = await vault.secret_create(SecretCreate(name="db", values={"PASSWORD": "hunter2"},
                                                    environment="main"), caller)
    vault.environment([answer.secret_id], warn=print)    # {"PASSWORD": "hunter2"}
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import exception
from ..protocol import client as protocol
from .auth import Identity
from .objects import NamedObjects, check_name
from .store import Store

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

SCHEMA = """
CREATE TABLE IF NOT EXISTS secret_values (
    id TEXT PRIMARY KEY, sealed BLOB NOT NULL, updated REAL NOT NULL
);
"""
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_KEY_CHARS = 16_384  # Modal's limits
MAX_VALUE_CHARS = 32_768
FIX = "ketch secret create NAME KEY=VALUE"


def check_values(values: Any) -> dict[str, str]:
    """Raise InvalidError unless ``values`` can become environment variables. Messages name
    keys, never values."""
    if not isinstance(values, dict):
        raise exception.InvalidError(f"a secret's values must be a dict of str to str, not a "
                                     f"{type(values).__name__}")
    for key, value in values.items():
        if not isinstance(key, str) or not KEY_RE.match(key) or len(key) > MAX_KEY_CHARS:
            raise exception.InvalidError(
                f"{key!r} cannot be a secret's key: use letters, digits and underscores, not "
                "starting with a digit (it becomes an environment variable)"
            )
        if not isinstance(value, str):
            raise exception.InvalidError(
                f"the value of secret key {key} must be a str, not a {type(value).__name__}"
            )
        if len(value) > MAX_VALUE_CHARS or "\0" in value:
            raise exception.InvalidError(
                f"the value of secret key {key} is over {MAX_VALUE_CHARS} characters or holds a "
                "NUL character; put large data in a Volume instead"
            )
    return values


def load_key(path: Path) -> bytes:
    """The Fernet key in ``path``, made on first use and readable by its owner only."""
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        key = _make_key(path)
    except OSError as exc:
        raise exception.InternalError(f"cannot read the secrets key {path}: {exc}") from exc
    try:
        valid = len(base64.urlsafe_b64decode(key)) == 32
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise exception.InternalError(
            f"{path} is not a secrets key (44 characters of url-safe base64). Restore it from a "
            "backup; moving it aside makes a new key, and every stored secret must then be "
            f"created again with `{FIX} --force`."
        )
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)  # a key restored or copied with looser permissions
    return key


def _make_key(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32))  # what Fernet.generate_key() makes
    partial = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(partial, path)  # never replaces: when control planes race, the first key wins
    except FileExistsError:
        key = path.read_bytes().strip()
    finally:
        os.unlink(partial)
    return key


class SecretService:
    """Stores, checks and opens secrets; answers ``secret_create``, ``secret_lookup`` and
    ``secret_keys``."""

    def __init__(self, store: Store, objects: NamedObjects, key_path: Path) -> None:
        self.store = store
        self.objects = objects
        self.key_path = key_path
        self._key = load_key(key_path)
        self._fernet: Fernet | None = None
        store.ensure_schema(SCHEMA)
        objects.droppers["secret"] = self.drop

    # -- requests ------------------------------------------------------------------------------

    async def secret_create(self, req: protocol.SecretCreate, caller: Identity
                            ) -> protocol.SecretId:
        check_values(req.values)
        name = req.name
        secret_id: str | None
        if name is None:
            secret_id = self.objects.create_ephemeral("secret", req.environment)
        else:
            check_name(name)
            secret_id = self._id_of(name, req.environment)
            if secret_id is not None and not req.overwrite:
                raise exception.AlreadyExistsError(
                    f"a secret named {name!r} already exists; replace its keys with "
                    f"`ketch secret create {name} KEY=VALUE ... --force`"
                )
            if secret_id is None:
                secret_id, _ = self.objects.lookup("secret", name, req.environment,
                                                   create_if_missing=True)
        self.store.execute(
            "INSERT OR REPLACE INTO secret_values (id, sealed, updated) VALUES (?, ?, ?)",
            (secret_id, self._seal(req.values), time.time()),
        )
        return protocol.SecretId(secret_id=secret_id)

    async def secret_keys(self, req: protocol.SecretKeys, caller: Identity) -> protocol.KeyNames:
        """A secret's key names, never their values (for the dashboard)."""
        return protocol.KeyNames(keys=sorted(self._open(req.secret_id)))

    async def secret_lookup(self, req: protocol.SecretLookup, caller: Identity
                            ) -> protocol.SecretId:
        name = req.name
        check_name(name)
        secret_id = self._id_of(name, req.environment)
        if secret_id is None:
            where = "" if req.environment == "main" else f" in environment {req.environment!r}"
            raise exception.NotFoundError(
                f"no secret named {name!r}{where}; create it with `ketch secret create {name} "
                "KEY=VALUE ...`"
            )
        missing = [k for k in req.required_keys if k not in self._open(secret_id)]
        if missing:
            raise exception.NotFoundError(
                f"secret {name!r} is missing the required key(s) {', '.join(missing)}; set them "
                f"with `ketch secret create {name} {' '.join(k + '=...' for k in missing)} "
                "--force`, listing every key it should keep (--force replaces them all)"
            )
        return protocol.SecretId(secret_id=secret_id)

    # -- for the control plane -----------------------------------------------------------------

    def check(self, secret_ids: list[str], what: str, environment: str) -> None:
        """Raise, naming the fix, unless every secret exists in ``environment`` and can be
        opened; ``what`` asks for them ("function 'f'", "sandbox")."""
        for secret_id in secret_ids:
            try:
                self.objects.kind_of(secret_id, "secret", environment)
                self._open(secret_id)
            except exception.NotFoundError:
                raise exception.NotFoundError(
                    f"{what} asks for secret {secret_id}, which no longer exists (deleted while "
                    f"the app started?); create it with `{FIX}` and run the app again"
                ) from None

    def environment(self, secret_ids: list[str], warn: Callable[[str], None]) -> dict[str, str]:
        """The secrets' values merged in order (later ones win), for a container about to
        start. A secret deleted, or unreadable, since its function was created is left out and
        reported through ``warn``: the container starts, and the log says why a key is absent."""
        env: dict[str, str] = {}
        for secret_id in secret_ids:
            try:
                env.update(self._open(secret_id))
            except exception.Error as exc:
                warn(f"this container starts without the keys of secret {secret_id}: {exc}")
        return env

    def release(self, secret_ids: list[str]) -> None:
        """Drop the ephemeral ones among ``secret_ids`` (an app run's from_dict, from_dotenv and
        from_local_environ secrets, made when it started); named secrets stay."""
        for secret_id in dict.fromkeys(secret_ids):
            self.objects.release(secret_id)

    def drop(self, object_id: str) -> None:
        """Forget a deleted secret's values."""
        self.store.execute("DELETE FROM secret_values WHERE id=?", (object_id,))

    # -- finding and sealing -----------------------------------------------------------------------

    def _id_of(self, name: str, environment: str) -> str | None:
        try:
            return self.objects.lookup("secret", name, environment)[0]
        except exception.NotFoundError:
            return None

    def _cipher(self) -> Fernet:
        if self._fernet is None:
            from cryptography.fernet import Fernet  # on first use: most runs have no secrets

            self._fernet = Fernet(self._key)
        return self._fernet

    def _seal(self, values: dict[str, str]) -> bytes:
        return self._cipher().encrypt(json.dumps(values).encode())

    def _open(self, secret_id: str) -> dict[str, str]:
        self.objects.kind_of(secret_id, "secret")
        row = self.store.fetchone("SELECT sealed FROM secret_values WHERE id=?", (secret_id,))
        if row is None:
            return {}  # made through the generic ephemeral request, with no values
        from cryptography.fernet import InvalidToken

        try:
            values: dict[str, str] = json.loads(self._cipher().decrypt(row[0]))
        except InvalidToken:
            raise exception.InternalError(
                f"secret {secret_id} cannot be opened with {self.key_path}: the key was replaced "
                f"since the secret was stored. Restore the old key, or create the secret again "
                f"with `{FIX} --force`."
            ) from None
        return values
