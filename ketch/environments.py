"""`Environment` (Modal's ``modal.Environment``): a handle on one of the server's environments,
with its roles and billing; and Modal's module-level helpers.

Example::

    ketch.Environment.objects.create("dev")
    dev = ketch.Environment.from_name("dev")
    dev.roles.update(service_users={"ak-0123456789abcdef": "viewer"})   # a token's role
    dev.billing.report(start=datetime(2026, 12, 1))

A token stands for Modal's *service user*: ``roles`` lists each live token's role in the
environment (``contributor``, ``viewer`` or ``no-access``) and ``update`` changes it. ketch
has no human users of its own, so ``users`` is always empty.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from . import billing, config, exception
from .client import get_client, given, use
from .protocol import client as protocol
from .synchronizer import aio, aio_function
from .types import BillingReportItem, EnvironmentBillingSummary


@dataclass(frozen=True)
class EnvironmentSettings:
    image_builder_version: str
    webhook_suffix: str


class EnvironmentManager:
    """``Environment.objects``: create, list and delete environments."""

    @aio
    async def create(self, name: str, *, restricted: bool = False, default_role: str | None = None,
                     experimental_options: dict[str, Any] | None = None,
                     client: Any = None) -> None:
        """Create an environment (every environment of ketch is restricted: only tokens
        granted it may use it)."""
        use(client)
        await (await get_client()).request(protocol.EnvironmentCreate(name=name))

    @aio
    async def list(self, *, client: Any = None) -> builtins.list[Environment]:
        use(client)
        answer = await (await get_client()).request(protocol.EnvironmentList())
        return [Environment._of(info) for info in answer.environments]

    @aio
    async def delete(self, name: str, *, client: Any = None) -> None:
        """Delete it, with its apps (stopped), named objects and secrets."""
        use(client)
        await (await get_client()).request(protocol.EnvironmentDelete(name=name))


class EnvironmentRolesManager:
    """``environment.roles``: each token's role in the environment."""

    def __init__(self, environment: Environment) -> None:
        self._environment = environment

    @aio
    async def list(self, *, exclude_default: bool = False
                   ) -> dict[Literal["users", "service_users"], dict[str, str]]:
        name = await self._environment._resolve()
        answer = await (await get_client()).request(protocol.EnvironmentRoles(environment=name))
        tokens = {token: role for token, role in answer.tokens.items()
                  if not (exclude_default and role == "no-access")}
        return {"users": {}, "service_users": tokens}

    @aio
    async def update(self, *, users: Mapping[str, str] | None = None,
                     service_users: Mapping[str, str] | None = None) -> None:
        """Set tokens' roles here: ``service_users`` maps a token id to ``contributor``,
        ``viewer`` or ``no-access``."""
        if users:
            raise exception.InvalidError(
                "ketch has no users of its own, only tokens: give their roles as "
                "service_users={token_id: role}")
        name = await self._environment._resolve()
        client = await get_client()
        errors = []
        for token_id, role in (service_users or {}).items():
            try:
                await client.request(protocol.TokenGrant(token_id=token_id, environment=name,
                                                         role=role))  # type: ignore[arg-type]
            except exception.Error as exc:
                errors.append(f"  - Service user {token_id!r}: {exc}")
        if errors:
            raise exception.WorkspaceManagementError(
                f"{len(errors)} error{'s' if len(errors) > 1 else ''} occurred while updating "
                "Environment roles:\n" + "\n".join(errors))

    @aio
    async def remove(self, *, users: Iterable[str] | None = None,
                     service_users: Iterable[str] | None = None) -> None:
        await self.update.aio(users={u: "no-access" for u in users or []},
                              service_users={t: "no-access" for t in service_users or []})


class EnvironmentBillingManager:
    """``environment.billing``: what its apps cost."""

    def __init__(self, environment: Environment) -> None:
        self._environment = environment

    @aio
    async def report(self, *, start: datetime, end: datetime | None = None,
                     resolution: str = "d", tag_names: builtins.list[str] | None = None
                     ) -> builtins.list[BillingReportItem]:
        name = await self._environment._resolve()
        return await billing.report(start=start, end=end, resolution=resolution,
                                    environments=[name])

    @aio
    async def summary(self, cycle: str | datetime | None = None) -> EnvironmentBillingSummary:
        return await billing.summary(cycle, [await self._environment._resolve()])


class Environment:
    """A handle on an environment, found when first used."""

    objects = EnvironmentManager()

    def __init__(self, name: str, create_if_missing: bool = False, client: Any = None) -> None:
        self._name = name  # "": the context's (KETCH_ENVIRONMENT's, else the token's own)
        self._create_if_missing = create_if_missing
        self._client = given(client)
        self._info: protocol.EnvironmentInfo | None = None

    @staticmethod
    def from_name(name: str, *, create_if_missing: bool = False, client: Any = None
                  ) -> Environment:
        if not isinstance(name, str) or not name:
            raise exception.InvalidError(f"Environment.from_name needs a name, not {name!r}")
        return Environment(name, create_if_missing, client)

    @staticmethod
    def from_context(*, client: Any = None) -> Environment:
        """The environment of ``KETCH_ENVIRONMENT`` (or ``MODAL_ENVIRONMENT``), else the one
        the caller's requests go to: a container's own, or its token's."""
        return Environment(config.environment(), client=client)

    @property
    def name(self) -> str | None:
        """Its name (None for `from_context` until it is first used)."""
        return self._name or None

    @property
    def roles(self) -> EnvironmentRolesManager:
        return EnvironmentRolesManager(self)

    @property
    def members(self) -> EnvironmentRolesManager:
        """Modal's older name for `roles`."""
        return EnvironmentRolesManager(self)

    @property
    def billing(self) -> EnvironmentBillingManager:
        return EnvironmentBillingManager(self)

    @aio
    async def hydrate(self, client: Any = None) -> Environment:
        await self._resolve()
        return self

    async def _resolve(self) -> str:
        use(self._client)  # for the rest of the calling method, too
        if self._info is None:
            client = await get_client()
            try:
                self._info = await client.request(protocol.EnvironmentGet(environment=self._name))
            except exception.NotFoundError:
                if not self._create_if_missing:
                    raise
                await client.request(protocol.EnvironmentCreate(name=self._name))
                self._info = await client.request(protocol.EnvironmentGet(environment=self._name))
            self._name = self._info.name
        return self._name

    @classmethod
    def _of(cls, info: protocol.EnvironmentInfo) -> Environment:
        made = cls(info.name)
        made._info = info
        return made

    def __repr__(self) -> str:
        return f"Environment.from_name({self._name!r})" if self._name \
            else "Environment.from_context()"


async def _create_environment(name: str, client: Any = None) -> None:
    await Environment.objects.create.aio(name, client=client)


async def _delete_environment(name: str, client: Any = None) -> None:
    await Environment.objects.delete.aio(name, client=client)


async def _list_environments(client: Any = None) -> list[protocol.EnvironmentInfo]:
    use(client)
    return list((await (await get_client()).request(protocol.EnvironmentList())).environments)


async def _update_environment(current_name: str, *, new_name: str | None = None,
                              new_web_suffix: str | None = None, client: Any = None) -> None:
    use(client)
    if new_name is not None and not new_name:
        raise exception.InvalidError("The new environment name cannot be empty")
    await (await get_client()).request(protocol.EnvironmentUpdate(
        name=current_name, new_name=new_name, web_suffix=new_web_suffix))


create_environment = aio_function(_create_environment)
delete_environment = aio_function(_delete_environment)
list_environments = aio_function(_list_environments)
update_environment = aio_function(_update_environment)

__all__ = ["Environment", "EnvironmentBillingManager", "EnvironmentManager",
           "EnvironmentRolesManager", "EnvironmentSettings", "create_environment",
           "delete_environment", "list_environments", "update_environment"]
