"""Environments: the boundary between teams' apps, named objects and secrets on one server.

As in Modal, an environment holds apps, deployments, named objects and secrets; inside one,
apps call each other and share objects; nothing crosses from one to another, and tokens are
granted to environments. ``main`` always exists: it is where everything made before there
were environments lives, and where requests go that name none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable

from .. import exception
from ..protocol import client as protocol
from .auth import Identity
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS environments (name TEXT PRIMARY KEY, created REAL NOT NULL,
    web_suffix TEXT);
"""
DEFAULT = "main"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise exception.InvalidError(
            f"{name!r} is not a valid environment name: use 1 to 64 letters, digits, '.', '_' "
            "or '-', starting with a letter or digit"
        )


class Environments:
    """Example::

        environments.create("dev")
        environments.check("dev")   # NotFoundError for an environment that does not exist
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema(SCHEMA)
        store.add_column("environments", "web_suffix", "TEXT")
        store.execute("INSERT OR IGNORE INTO environments (name, created) VALUES (?, ?)",
                      (DEFAULT, time.time()))
        rows = store.fetchall("SELECT name, web_suffix FROM environments")
        self._names = {name for name, _ in rows}
        self._suffixes = {name: suffix for name, suffix in rows if suffix is not None}
        # set by the control plane: end an environment's apps and objects before it goes, and
        # carry its apps, objects, deployments and grants over to a new name; and refuse a web
        # suffix (set, or its name's after a rename) under which its endpoints' labels would be
        # another environment's
        self.on_delete: Callable[[str], Awaitable[None]] | None = None
        self.on_rename: Callable[[str, str], None] | None = None
        self.on_web_suffix: Callable[[str, str], None] | None = None

    def check(self, name: str) -> None:
        if name not in self._names:
            check_name(name)
            raise exception.NotFoundError(
                f"no environment named {name!r}; create it with `ketch environment create "
                f"{name}`, or pick one of: {', '.join(sorted(self._names))}"
            )

    def web_suffix(self, name: str) -> str:
        """What the labels of its web endpoints end with: nothing in ``main``, else its name
        unless set (`ketch environment update --set-web-suffix`)."""
        suffix = self._suffixes.get(name)  # in memory: the gateway asks on a request's path
        if suffix is not None:
            return suffix
        return "" if name == DEFAULT else name

    def create(self, name: str) -> None:
        check_name(name)
        if name in self._names:
            raise exception.AlreadyExistsError(f"environment {name!r} already exists")
        self.store.execute("INSERT INTO environments (name, created) VALUES (?, ?)",
                           (name, time.time()))
        self._names.add(name)

    # -- requests ------------------------------------------------------------------------------

    async def environment_create(self, req: protocol.EnvironmentCreate, caller: Identity
                                 ) -> protocol.Empty:
        self.create(req.name)
        return protocol.Empty()

    async def environment_list(self, req: protocol.EnvironmentList, caller: Identity
                               ) -> protocol.Environments:
        return protocol.Environments(environments=[  # the names `check` knows, no others
            self.describe(name, caller) for name in sorted(self._names) if caller.may_use(name)])

    async def environment_get(self, req: protocol.EnvironmentGet, caller: Identity
                              ) -> protocol.EnvironmentInfo:
        return self.describe(req.environment, caller)

    def describe(self, name: str, caller: Identity) -> protocol.EnvironmentInfo:
        row = self.store.fetchone("SELECT created FROM environments WHERE name=?", (name,))
        return protocol.EnvironmentInfo(name=name, created=row[0] if row else 0.0,
                                        default=name == caller.environment,
                                        web_suffix=self.web_suffix(name))

    async def environment_update(self, req: protocol.EnvironmentUpdate, caller: Identity
                                 ) -> protocol.Empty:
        self.check(req.name)
        renaming = req.new_name is not None and req.new_name != req.name
        if renaming:  # refused before anything changes
            self._check_rename(req.name, req.new_name or "")
        if req.web_suffix is not None:
            if req.web_suffix and not NAME_RE.match(req.web_suffix):
                raise exception.InvalidError(
                    f"web suffix {req.web_suffix!r}: use letters, digits, '.', '_' or '-' (or "
                    "'' for none)")
        suffix = req.web_suffix if req.web_suffix is not None else self._suffixes.get(req.name)
        if suffix is None:
            suffix = "" if req.name == DEFAULT else req.new_name or req.name
        if self.on_web_suffix is not None and suffix != self.web_suffix(req.name):
            self.on_web_suffix(req.name, suffix)
        if req.web_suffix is not None:
            self.store.execute("UPDATE environments SET web_suffix=? WHERE name=?",
                               (req.web_suffix, req.name))
            self._suffixes[req.name] = req.web_suffix
        if renaming:
            self._rename(req.name, req.new_name or "")
        return protocol.Empty()

    def _check_rename(self, name: str, new_name: str) -> None:
        check_name(new_name)
        if name == DEFAULT:
            raise exception.InvalidError(f"environment {DEFAULT!r} is where requests go that "
                                         "name none: it keeps its name")
        if new_name in self._names:
            raise exception.AlreadyExistsError(f"environment {new_name!r} already exists")

    def _rename(self, name: str, new_name: str) -> None:
        if self.on_rename is not None:
            self.on_rename(name, new_name)
        self.store.execute("UPDATE environments SET name=? WHERE name=?", (new_name, name))
        self._names.discard(name)
        self._names.add(new_name)
        if name in self._suffixes:
            self._suffixes[new_name] = self._suffixes.pop(name)

    async def environment_delete(self, req: protocol.EnvironmentDelete, caller: Identity
                                 ) -> protocol.Empty:
        self.check(req.name)
        if req.name == DEFAULT:
            raise exception.InvalidError(
                f"environment {DEFAULT!r} is where requests go that name none: it cannot be "
                "deleted (delete its apps and objects one by one instead)")
        if self.on_delete is not None:
            await self.on_delete(req.name)
        self.store.execute("DELETE FROM environments WHERE name=?", (req.name,))
        self._names.discard(req.name)
        self._suffixes.pop(req.name, None)
        return protocol.Empty()
