"""Who may talk to the control plane: user tokens, proxy tokens and container tokens.

A token is an id and a secret; the store keeps only the secret's SHA-256. A *user* token is
granted every environment (and then may also manage tokens and environments) or a list of them,
and may be read-only. A *proxy* token only opens web endpoints that ask for proxy auth. A
container's token (made for it at start, never stored) lets it run its own container protocol
and act within its environment as `ketch.server.access` describes: call functions and use named
objects, but not deploy, stop or administer.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import exception
from ..protocol import client as protocol
from .store import Store

if TYPE_CHECKING:
    from .environments import Environments

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, kind TEXT NOT NULL, created REAL NOT NULL,
    revoked REAL, environments TEXT, read_only INTEGER NOT NULL DEFAULT 0
);
"""
KINDS = ("user", "proxy")


@dataclass(frozen=True)
class Identity:
    """Who makes a request: a token's kind and id (a container's id for a container), the
    environments it may use (None: every one) and where requests naming none go."""

    kind: str  # "user", "proxy" or "container"
    token_id: str
    app_id: str | None = None  # for containers: their app
    environments: frozenset[str] | None = None
    read_only: bool = False
    environment: str = "main"

    @property
    def admin(self) -> bool:
        """Rights over every environment, tokens included."""
        return self.kind == "user" and self.environments is None and not self.read_only

    def may_use(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments


LOCAL = Identity("user", "local")  # the process that embeds its control plane


def default_environment(environments: frozenset[str] | None) -> str:
    """Where a token's requests go that name no environment: ``main``, unless the token is
    granted others only."""
    if environments is None or "main" in environments or not environments:
        return "main"
    return min(environments)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    def __init__(self, store: Store, environments: Environments | None = None) -> None:
        self.store = store
        self.environments = environments
        store.ensure_schema(SCHEMA)
        store.add_column("tokens", "environments", "TEXT")  # tokens made before: every one
        store.add_column("tokens", "read_only", "INTEGER NOT NULL DEFAULT 0")

    def create(self, kind: str = "user", environments: list[str] | None = None,
               read_only: bool = False) -> tuple[str, str]:
        if kind not in KINDS:
            raise exception.InvalidError(f"token kind must be one of {', '.join(KINDS)}")
        if kind == "proxy" and (environments is not None or read_only):
            raise exception.InvalidError("a proxy token opens web endpoints only: it takes no "
                                         "environments and is never read-only")
        for environment in environments or []:
            if self.environments is not None:
                self.environments.check(environment)
        token_id = ("ak-" if kind == "user" else "wk-") + secrets.token_hex(8)
        secret = ("as-" if kind == "user" else "ws-") + secrets.token_urlsafe(24)
        granted = None if environments is None else json.dumps(sorted(set(environments)))
        self.store.execute(
            "INSERT INTO tokens (id, secret_sha256, kind, created, environments, read_only) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, _digest(secret), kind, time.time(), granted, int(read_only)),
        )
        return token_id, secret

    def verify(self, token_id: str, secret: str, kind: str | None = None) -> Identity:
        row = self.store.fetchone(
            "SELECT secret_sha256, kind, revoked, environments, read_only FROM tokens WHERE id=?",
            (token_id,)
        )
        if row is None or row[2] is not None or not secrets.compare_digest(row[0], _digest(secret)):
            raise exception.AuthError(
                "the token was refused (unknown, revoked or wrong secret); run "
                "`ketch token new` on the server's machine, or `ketch token set`"
            )
        if kind is not None and row[1] != kind:
            raise exception.PermissionDeniedError(f"a {row[1]} token cannot do this")
        granted = None if row[3] is None else frozenset(json.loads(row[3]))
        return Identity(row[1], token_id, environments=granted, read_only=bool(row[4]),
                        environment=default_environment(granted))

    def revoke(self, token_id: str) -> None:
        if not self.store.execute("UPDATE tokens SET revoked=? WHERE id=? AND revoked IS NULL",
                                  (time.time(), token_id)):
            raise exception.NotFoundError(f"no live token {token_id}")

    def list(self) -> list[protocol.TokenInfo]:
        rows = self.store.fetchall("SELECT id, kind, created, revoked, environments, read_only "
                                   "FROM tokens ORDER BY created")
        return [protocol.TokenInfo(id=i, kind=k, created=c, revoked=r, read_only=bool(ro),
                                   environments=None if e is None else json.loads(e))
                for i, k, c, r, e, ro in rows]

    # -- requests ------------------------------------------------------------------------------

    async def client_hello(self, req: protocol.ClientHello, caller: Identity) -> protocol.Hello:
        from .. import __version__  # the package, imported by now (not while this module loads)

        return protocol.Hello(version=__version__)

    async def token_create(self, req: protocol.TokenCreate, caller: Identity
                           ) -> protocol.TokenCreated:
        token_id, secret = self.create(req.kind, req.environments, req.read_only)
        return protocol.TokenCreated(token_id=token_id, token_secret=secret)

    async def token_list(self, req: protocol.TokenList, caller: Identity) -> protocol.Tokens:
        return protocol.Tokens(tokens=self.list())

    async def token_revoke(self, req: protocol.TokenRevoke, caller: Identity) -> protocol.Empty:
        self.revoke(req.token_id)
        return protocol.Empty()
