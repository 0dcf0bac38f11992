"""Who the caller is, and what only administrators do: tokens and environments.

The first request on a connection is ``auth``: a token (``token_id``) or, from a container's
code, its container's credentials (``container_id``). Every other request is made as the
identity it establishes.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from ..message import Answer, Message, Request


class Authenticated(Answer):
    kind: str  # "user" or "container"
    environment: str  # where requests that name no environment go


class Auth(Request):
    KIND: ClassVar[str] = "auth"
    ANSWER: ClassVar[type[Answer]] = Authenticated
    secret: str
    token_id: str | None = None
    container_id: str | None = None


class Hello(Answer):
    version: str  # the control plane's ketch version
    workspace: str = ""  # the server's name (its host's)
    environment: str = ""  # where the caller's requests go that name none


class ClientHello(Request):
    """Check the connection and its token (Modal's ``Client.hello``)."""

    KIND: ClassVar[str] = "client_hello"
    ANSWER: ClassVar[type[Answer]] = Hello
    environment: str = ""  # "": the caller's own


class TokenCreated(Answer):
    token_id: str
    token_secret: str


class TokenCreate(Request):
    """A "user" token (for every environment, or only ``environments``; ``read_only`` to
    change nothing) or a "proxy" token (web endpoints that ask for proxy auth)."""

    KIND: ClassVar[str] = "token_create"
    ANSWER: ClassVar[type[Answer]] = TokenCreated
    kind: Literal["user", "proxy"] = "user"
    environments: list[str] | None = None
    read_only: bool = False


class TokenInfo(Message):
    id: str
    kind: str
    created: float
    revoked: float | None
    environments: dict[str, str] | None = None  # role by environment; None: every one
    read_only: bool = False


class Tokens(Answer):
    tokens: list[TokenInfo]


class TokenList(Request):
    KIND: ClassVar[str] = "token_list"
    ANSWER: ClassVar[type[Answer]] = Tokens


class TokenRevoke(Request):
    KIND: ClassVar[str] = "token_revoke"
    token_id: str


class TokenGrant(Request):
    """Give a token a role in an environment, as Modal's ``Environment.roles.update`` gives
    service users theirs ("no-access" takes it away; a proxy token: "contributor" allows it)."""

    KIND: ClassVar[str] = "token_grant"
    token_id: str
    environment: str
    role: Literal["contributor", "viewer", "no-access"]


class Roles(Answer):
    tokens: dict[str, str]  # token id -> role


class EnvironmentRoles(Request):
    """Each live token's role in the environment."""

    KIND: ClassVar[str] = "environment_roles"
    ANSWER: ClassVar[type[Answer]] = Roles
    environment: str


class EnvironmentInfo(Answer):
    name: str
    created: float
    default: bool = False  # where the caller's requests go that name none
    web_suffix: str = ""  # what its web endpoints' labels end with


class Environments(Answer):
    environments: list[EnvironmentInfo]


class EnvironmentCreate(Request):
    KIND: ClassVar[str] = "environment_create"
    name: str


class EnvironmentList(Request):
    """The environments the caller may use."""

    KIND: ClassVar[str] = "environment_list"
    ANSWER: ClassVar[type[Answer]] = Environments


class EnvironmentGet(Request):
    KIND: ClassVar[str] = "environment_get"
    ANSWER: ClassVar[type[Answer]] = EnvironmentInfo
    environment: str = ""  # "": the caller's own


class EnvironmentUpdate(Request):
    """Rename an environment (its apps, objects, deployments and grants go with it), or set
    the suffix of its web endpoints' labels."""

    KIND: ClassVar[str] = "environment_update"
    name: str
    new_name: str | None = None
    web_suffix: str | None = None


class Rates(Answer):
    prices: dict[str, float]  # dollars per second: "cpu" (a core), "memory" (GiB), each GPU


class BillingRates(Request):
    """What a second of each resource costs on this server."""

    KIND: ClassVar[str] = "billing_rates"
    ANSWER: ClassVar[type[Answer]] = Rates


class EnvironmentDelete(Request):
    """Delete an environment with its apps (stopped), named objects and secrets."""

    KIND: ClassVar[str] = "environment_delete"
    name: str


__all__ = [
    "Auth", "Authenticated", "BillingRates", "ClientHello", "EnvironmentCreate",
    "EnvironmentDelete", "EnvironmentGet", "EnvironmentInfo", "EnvironmentList",
    "EnvironmentRoles", "EnvironmentUpdate", "Environments", "Hello", "Rates", "Roles",
    "TokenCreate", "TokenCreated", "TokenGrant", "TokenInfo", "TokenList", "TokenRevoke",
    "Tokens",
]
