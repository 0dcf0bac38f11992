"""`Workspace` (Modal's ``modal.Workspace``): the ketch server the caller's token reaches, with
its members, proxy tokens, billing and settings.

Example::

    ws = ketch.Workspace.from_context()
    token = ws.proxy_tokens.create()
    ws.proxy_tokens.allow(token.token_id, "prod")     # scoped: prod's web endpoints only
    print(ws.billing.summary().metered_cost)

A server is one workspace, named after its host. Its members are its user tokens (ketch has no
human users of its own): an owner is a token for every environment, a member one for some.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import billing, exception
from .client import get_client, given, use
from .protocol import client as protocol
from .synchronizer import aio
from .types import (
    BillingReportItem,
    ProxyTokenInfo,
    TokenData,
    WorkspaceBillingSummary,
    WorkspaceMemberInfo,
    WorkspaceSettings,
)


class _Manager:
    """A namespace of a workspace's methods, which use the workspace's client."""

    def __init__(self, client: Any = None) -> None:
        self._client = client


async def _tokens(kind: str) -> list[protocol.TokenInfo]:
    answer = await (await get_client()).request(protocol.TokenList())
    return [t for t in answer.tokens if t.kind == kind and t.revoked is None]


def _when(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


class WorkspaceMembersManager(_Manager):
    @aio
    async def list(self) -> builtins.list[WorkspaceMemberInfo]:
        """The user tokens: ``owner`` for every environment, else ``member``."""
        use(self._client)
        return [WorkspaceMemberInfo(name=t.id, email="", user_id=t.id,
                                    role="owner" if t.environments is None else "member",
                                    joined_at=_when(t.created), last_active_at=None)
                for t in await _tokens("user")]


class WorkspaceProxyTokenManager(_Manager):
    """The proxy tokens that open web endpoints asking for proxy auth."""

    @aio
    async def create(self) -> TokenData:
        use(self._client)
        answer = await (await get_client()).request(protocol.TokenCreate(kind="proxy"))
        return TokenData(token_id=answer.token_id, token_secret=answer.token_secret)

    @aio
    async def list(self, environment_name: str | None = None) -> builtins.list[ProxyTokenInfo]:
        """Every live proxy token, or those that open ``environment_name``'s endpoints."""
        use(self._client)
        return [ProxyTokenInfo(token_id=t.id, created_at=_when(t.created),
                               scoped=t.environments is not None)
                for t in await _tokens("proxy")
                if environment_name is None or t.environments is None
                or environment_name in t.environments]

    @aio
    async def allow(self, proxy_token_id: str, environment_name: str) -> None:
        """Let it open ``environment_name``'s endpoints; a token not yet scoped becomes scoped
        to the environments allowed."""
        use(self._client)
        await _grant(proxy_token_id, environment_name, "contributor")

    @aio
    async def revoke(self, proxy_token_id: str, environment_name: str) -> None:
        """No longer let it open ``environment_name``'s endpoints (it stays, for others)."""
        use(self._client)
        await _grant(proxy_token_id, environment_name, "no-access")

    @aio
    async def delete(self, proxy_token_id: str) -> None:
        use(self._client)
        await (await get_client()).request(protocol.TokenRevoke(token_id=proxy_token_id))


async def _grant(token_id: str, environment: str, role: str) -> None:
    if not token_id.startswith("wk-"):
        raise exception.InvalidError(f"{token_id!r} is not a proxy token id (they start wk-)")
    await (await get_client()).request(protocol.TokenGrant(
        token_id=token_id, environment=environment, role=role))  # type: ignore[arg-type]


class WorkspaceBillingRates(Mapping[str, Decimal]):
    """Dollars per second of each resource: ``cpu`` (a core), ``memory`` (a GiB), each GPU."""

    def __init__(self, prices: Mapping[str, float]) -> None:
        self._rates = {key: Decimal(str(value)) for key, value in prices.items()}

    def __getitem__(self, key: str) -> Decimal:
        return self._rates[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rates)

    def __len__(self) -> int:
        return len(self._rates)

    def __repr__(self) -> str:
        return repr(self._rates)


class WorkspaceBillingManager(_Manager):
    @aio
    async def rates(self) -> WorkspaceBillingRates:
        use(self._client)
        return WorkspaceBillingRates(await billing._prices())

    @aio
    async def report(self, *, start: datetime, end: datetime | None = None,
                     resolution: str = "d", tag_names: builtins.list[str] | None = None
                     ) -> builtins.list[BillingReportItem]:
        """Each app's cost per interval, in every environment the token may use."""
        use(self._client)
        return await billing.report(start=start, end=end, resolution=resolution,
                                    environments=None)

    @aio
    async def summary(self, cycle: str | datetime | None = None) -> WorkspaceBillingSummary:
        """A month's metered cost; ketch adjusts nothing, so it is also what is billed."""
        use(self._client)
        metered = await billing.summary(cycle, None)
        return WorkspaceBillingSummary(
            start=metered.start, end=metered.end, metered_cost=metered.metered_cost,
            metered_cost_breakdown=metered.metered_cost_breakdown, adjustments={},
            billed_cost=metered.metered_cost)


class WorkspaceSettingsManager(_Manager):
    @classmethod
    def valid_settings(cls) -> tuple[str, ...]:
        return ("default-environment", "image-builder-version")

    @aio
    async def list(self) -> WorkspaceSettings:
        from . import __version__

        use(self._client)
        hello = await (await get_client()).request(protocol.ClientHello())
        return WorkspaceSettings(default_environment=hello.environment,
                                 image_builder_version=f"ketch-{__version__}")


class Workspace:
    """The server the caller's connection (or ``client``) reaches."""

    def __init__(self, client: Any = None) -> None:
        self._client = given(client)
        self._name: str | None = None

    @staticmethod
    def from_context(*, client: Any = None) -> Workspace:
        return Workspace(client)

    @property
    def members(self) -> WorkspaceMembersManager:
        return WorkspaceMembersManager(self._client)

    @property
    def proxy_tokens(self) -> WorkspaceProxyTokenManager:
        return WorkspaceProxyTokenManager(self._client)

    @property
    def billing(self) -> WorkspaceBillingManager:
        return WorkspaceBillingManager(self._client)

    @property
    def settings(self) -> WorkspaceSettingsManager:
        return WorkspaceSettingsManager(self._client)

    @property
    def name(self) -> str | None:
        """The server's name (None until `hydrate`)."""
        return self._name

    @aio
    async def hydrate(self, client: Any = None) -> Workspace:
        use(client or self._client)
        self._name = (await (await get_client()).request(protocol.ClientHello())).workspace
        return self

    def __repr__(self) -> str:
        return "Workspace.from_context()"


__all__ = ["ProxyTokenInfo", "TokenData", "Workspace", "WorkspaceBillingManager",
           "WorkspaceBillingRates", "WorkspaceMemberInfo", "WorkspaceMembersManager",
           "WorkspaceProxyTokenManager", "WorkspaceSettings", "WorkspaceSettingsManager"]
