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
    environments: list[str] | None = None  # None: every environment
    read_only: bool = False


class Tokens(Answer):
    tokens: list[TokenInfo]


class TokenList(Request):
    KIND: ClassVar[str] = "token_list"
    ANSWER: ClassVar[type[Answer]] = Tokens


class TokenRevoke(Request):
    KIND: ClassVar[str] = "token_revoke"
    token_id: str


class EnvironmentInfo(Message):
    name: str
    created: float
    default: bool = False


class Environments(Answer):
    environments: list[EnvironmentInfo]


class EnvironmentCreate(Request):
    KIND: ClassVar[str] = "environment_create"
    name: str


class EnvironmentList(Request):
    """The environments the caller may use."""

    KIND: ClassVar[str] = "environment_list"
    ANSWER: ClassVar[type[Answer]] = Environments


class EnvironmentDelete(Request):
    """Delete an environment with its apps (stopped), named objects and secrets."""

    KIND: ClassVar[str] = "environment_delete"
    name: str


__all__ = [
    "Auth", "Authenticated", "ClientHello", "EnvironmentCreate", "EnvironmentDelete", "EnvironmentInfo",
    "EnvironmentList", "Environments", "Hello", "TokenCreate", "TokenCreated", "TokenInfo", "TokenList",
    "TokenRevoke", "Tokens",
]
