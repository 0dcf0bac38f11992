"""Who may talk to the control plane: user tokens, proxy tokens and container tokens.

A token is an id and a secret; the store keeps only the secret's SHA-256. A *user* token is
granted every environment (and then may also manage tokens and environments; read-only, it may
read them all) or some, each with a role, "contributor" or "viewer" (reads only), as Modal's
service users are. A *proxy* token only opens web endpoints that ask for proxy auth: of every
environment, or once scoped (`grant`), of those it was allowed. A
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
ROLES = ("contributor", "viewer")
Grants = dict[str, str]  # environment -> role


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
    viewer_in: frozenset[str] = frozenset()  # where it may only read
    connection: int = 0  # the client connection it came on (0: none, as in an embedded one)

    @property
    def admin(self) -> bool:
        """Rights over every environment, tokens included."""
        return self.kind == "user" and self.environments is None and not self.read_only

    def may_use(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments

    def may_change(self, environment: str | None) -> bool:
        """Whether it may make requests that change things (in ``environment``)."""
        return not self.read_only and environment not in self.viewer_in


LOCAL = Identity("user", "local")  # the process that embeds its control plane


def default_environment(environments: frozenset[str] | None) -> str:
    """Where a token's requests go that name no environment: ``main``, unless the token is
    granted others only."""
    if environments is None or "main" in environments or not environments:
        return "main"
    return min(environments)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _grants(text: str | None) -> Grants | None:
    """A token's stored grants: None for every environment (a list: contributors, as the
    first tokens granted some environments were stored)."""
    if text is None:
        return None
    value = json.loads(text)
    return {name: "contributor" for name in value} if isinstance(value, list) else dict(value)


class Tokens:
    def __init__(self, store: Store, environments: Environments | None = None) -> None:
        self.store = store
        self.environments = environments
        store.ensure_schema(SCHEMA)
        store.add_column("tokens", "environments", "TEXT")  # tokens made before: every one
        store.add_column("tokens", "read_only", "INTEGER NOT NULL DEFAULT 0")

    def create(self, kind: str = "user", environments: list[str] | None = None,
               read_only: bool = False) -> tuple[str, str]:
        """A token for every environment, or for ``environments`` (each as a viewer when
        ``read_only``); a proxy token so given is scoped to them."""
        if kind not in KINDS:
            raise exception.InvalidError(f"token kind must be one of {', '.join(KINDS)}")
        if kind == "proxy" and read_only:
            raise exception.InvalidError("a proxy token opens web endpoints only: it is never "
                                         "read-only")
        for environment in environments or []:
            self._check(environment)
        token_id = ("ak-" if kind == "user" else "wk-") + secrets.token_hex(8)
        secret = ("as-" if kind == "user" else "ws-") + secrets.token_urlsafe(24)
        role = "viewer" if read_only else "contributor"
        grants = None if environments is None else {name: role for name in environments}
        self.store.execute(
            "INSERT INTO tokens (id, secret_sha256, kind, created, environments, read_only) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (token_id, _digest(secret), kind, time.time(),
             None if grants is None else json.dumps(grants),
             int(read_only and environments is None)),
        )
        return token_id, secret

    def grant(self, token_id: str, environment: str, role: str) -> None:
        """Give a token ``role`` in ``environment`` ("no-access" takes it away). A proxy token
        allowed some environment is scoped to those from then on."""
        self._check(environment)
        row = self.store.fetchone("SELECT kind, environments FROM tokens WHERE id=? AND "
                                  "revoked IS NULL", (token_id,))
        if row is None:
            raise exception.NotFoundError(f"no live token {token_id}")
        kind, grants = row[0], _grants(row[1])
        if role not in (*ROLES, "no-access") or (kind == "proxy" and role == "viewer"):
            raise exception.InvalidError(
                f"role {role!r}: a user token's role is contributor, viewer or no-access; a "
                "proxy token is allowed (contributor) or not (no-access)")
        if grants is None and kind == "user":
            raise exception.InvalidError(
                f"token {token_id} may use every environment: make one for some environments "
                "instead (`ketch token new --env NAME`) and revoke this one")
        if grants is None:  # an unscoped proxy token: every environment there is, until now
            grants = {name: "contributor" for name in self._every_environment()}
            if role != "no-access":
                grants = {}
        if role == "no-access":
            grants.pop(environment, None)
        else:
            grants[environment] = role
        self.store.execute("UPDATE tokens SET environments=? WHERE id=?",
                           (json.dumps(grants), token_id))

    def roles(self, environment: str) -> dict[str, str]:
        """Each live token's role in ``environment``."""
        rows = self.store.fetchall("SELECT id, environments, read_only FROM tokens "
                                   "WHERE revoked IS NULL ORDER BY created")
        roles = {}
        for token_id, text, read_only in rows:
            grants = _grants(text)
            everywhere = "viewer" if read_only else "contributor"
            roles[token_id] = everywhere if grants is None else grants.get(environment,
                                                                           "no-access")
        return roles

    def rename_environment(self, name: str, new_name: str) -> None:
        rows = self.store.fetchall("SELECT id, environments FROM tokens WHERE environments IS "
                                   "NOT NULL")
        for token_id, text in rows:
            grants = _grants(text) or {}
            if name in grants:
                grants[new_name] = grants.pop(name)
                self.store.execute("UPDATE tokens SET environments=? WHERE id=?",
                                   (json.dumps(grants), token_id))

    def _check(self, environment: str) -> None:
        if self.environments is not None:
            self.environments.check(environment)

    def _every_environment(self) -> list[str]:
        return [row[0] for row in self.store.fetchall("SELECT name FROM environments")]

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
        grants = _grants(row[3])
        granted = None if grants is None else frozenset(grants)
        viewer = frozenset(name for name, role in (grants or {}).items() if role == "viewer")
        return Identity(row[1], token_id, environments=granted, read_only=bool(row[4]),
                        environment=default_environment(granted), viewer_in=viewer)

    def revoke(self, token_id: str) -> None:
        if not self.store.execute("UPDATE tokens SET revoked=? WHERE id=? AND revoked IS NULL",
                                  (time.time(), token_id)):
            raise exception.NotFoundError(f"no live token {token_id}")

    def list(self) -> list[protocol.TokenInfo]:
        rows = self.store.fetchall("SELECT id, kind, created, revoked, environments, read_only "
                                   "FROM tokens ORDER BY created")
        return [protocol.TokenInfo(id=i, kind=k, created=c, revoked=r, read_only=bool(ro),
                                   environments=_grants(e))
                for i, k, c, r, e, ro in rows]

    # -- requests ------------------------------------------------------------------------------

    async def client_hello(self, req: protocol.ClientHello, caller: Identity) -> protocol.Hello:
        import socket

        from .. import __version__  # the package, imported by now (not while this module loads)

        return protocol.Hello(version=__version__, workspace=socket.gethostname(),
                              environment=req.environment)

    async def token_create(self, req: protocol.TokenCreate, caller: Identity
                           ) -> protocol.TokenCreated:
        token_id, secret = self.create(req.kind, req.environments, req.read_only)
        return protocol.TokenCreated(token_id=token_id, token_secret=secret)

    async def token_list(self, req: protocol.TokenList, caller: Identity) -> protocol.Tokens:
        return protocol.Tokens(tokens=self.list())

    async def token_revoke(self, req: protocol.TokenRevoke, caller: Identity) -> protocol.Empty:
        self.revoke(req.token_id)
        return protocol.Empty()

    async def token_grant(self, req: protocol.TokenGrant, caller: Identity) -> protocol.Empty:
        self.grant(req.token_id, req.environment, req.role)
        return protocol.Empty()

    async def environment_roles(self, req: protocol.EnvironmentRoles, caller: Identity
                                ) -> protocol.Roles:
        self._check(req.environment)
        return protocol.Roles(tokens=self.roles(req.environment))
