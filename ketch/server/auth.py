"""Who may talk to the control plane: user tokens, proxy tokens and container tokens.

A token is an id and a secret; the store keeps only the secret's SHA-256. A *user* token may
make every request; a *read-only* one only the requests that change nothing (`access`), and
sees the dashboard without its buttons. A *proxy* token only opens web endpoints that ask for proxy auth. A
container's token (made for it at start, never stored) lets it run its own container protocol
and act within its own app: call the app's functions and use named objects, but not deploy,
stop or read other apps.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from .. import exception
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, kind TEXT NOT NULL, created REAL NOT NULL,
    revoked REAL
);
"""
KINDS = ("user", "read-only", "proxy")
CLIENT_KINDS = ("user", "read-only")  # the tokens a client or the dashboard signs in with
PREFIXES = {"user": ("ak-", "as-"), "read-only": ("rk-", "rs-"), "proxy": ("wk-", "ws-")}


@dataclass(frozen=True)
class Identity:
    kind: str  # "user", "read-only", "proxy" or "container"
    token_id: str
    app_id: str | None = None  # for containers: the only app they may act in


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Tokens:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema(SCHEMA)

    def create(self, kind: str = "user") -> tuple[str, str]:
        if kind not in KINDS:
            raise exception.InvalidError(f"token kind must be one of {', '.join(KINDS)}")
        id_prefix, secret_prefix = PREFIXES[kind]
        token_id = id_prefix + secrets.token_hex(8)
        secret = secret_prefix + secrets.token_urlsafe(24)
        self.store.execute(
            "INSERT INTO tokens (id, secret_sha256, kind, created) VALUES (?, ?, ?, ?)",
            (token_id, _digest(secret), kind, time.time()),
        )
        return token_id, secret

    def verify(self, token_id: str, secret: str,
               kind: str | tuple[str, ...] | None = None) -> Identity:
        """The identity of a token, which must be of ``kind`` (or one of those kinds)."""
        row = self.store.fetchone(
            "SELECT secret_sha256, kind, revoked FROM tokens WHERE id=?", (token_id,)
        )
        if row is None or row[2] is not None or not secrets.compare_digest(row[0], _digest(secret)):
            raise exception.AuthError(
                "the token was refused (unknown, revoked or wrong secret); run "
                "`ketch token new` on the server's machine, or `ketch token set`"
            )
        if kind is not None and row[1] not in ((kind,) if isinstance(kind, str) else kind):
            raise exception.PermissionDeniedError(f"a {row[1]} token cannot do this")
        return Identity(row[1], token_id)

    def revoke(self, token_id: str) -> None:
        if not self.store.execute("UPDATE tokens SET revoked=? WHERE id=? AND revoked IS NULL",
                                  (time.time(), token_id)):
            raise exception.NotFoundError(f"no live token {token_id}")

    def list(self) -> list[dict[str, object]]:
        rows = self.store.fetchall("SELECT id, kind, created, revoked FROM tokens ORDER BY created")
        return [{"id": i, "kind": k, "created": c, "revoked": r} for i, k, c, r in rows]
