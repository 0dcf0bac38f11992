"""`SandboxSnapshot`: a running sandbox's memory and files, saved, as Modal's
``modal.SandboxSnapshot`` (Modal's names are still ``_experimental_``).

``sb._experimental_snapshot()`` saves a gVisor sandbox while it goes on running;
``Sandbox._experimental_from_snapshot(snapshot)`` starts a new sandbox whose processes go on
from there, with the same values in memory and the same files. It takes gVisor's checkpoint
and restore (`ketch.backends.gvisor_checkpoint`): a sandbox on the namespace runtime raises
`UnimplementedError` saying so.

Example::

    sb = ketch.Sandbox.create("python3", "-c", COUNTER, app=app, runtime="gvisor",
                              _experimental_enable_snapshot=True)
    snapshot = sb._experimental_snapshot()
    copy = ketch.Sandbox._experimental_from_snapshot(snapshot)     # counts on from there
    same = ketch.SandboxSnapshot.from_id(snapshot.object_id)       # from any process
"""

from __future__ import annotations

from typing import Any

from . import exception
from .client import Client, get_client, given
from .protocol import client as protocol
from .synchronizer import aio


class SandboxSnapshot:
    def __init__(self, snapshot_id: str, client: Client | None = None) -> None:
        self._object_id = snapshot_id
        self._client = client

    @property
    def object_id(self) -> str:
        return self._object_id

    @staticmethod
    def from_id(sandbox_snapshot_id: str, client: Any = None) -> SandboxSnapshot:
        """The snapshot of that id; checked when it is first used (or `hydrate`d)."""
        if not isinstance(sandbox_snapshot_id, str) or not sandbox_snapshot_id.startswith("sn-"):
            raise exception.InvalidError(
                f"{sandbox_snapshot_id!r} is not a sandbox snapshot id (they start with 'sn-')")
        return SandboxSnapshot(sandbox_snapshot_id, given(client))

    @aio
    async def hydrate(self, client: Any = None) -> SandboxSnapshot:
        """Check that the snapshot exists (`NotFoundError` if not)."""
        connection = given(client) or self._client or await get_client()
        await connection.request(protocol.SandboxSnapshotGet(snapshot_id=self._object_id))
        return self

    def __repr__(self) -> str:
        return f"SandboxSnapshot({self._object_id!r})"
