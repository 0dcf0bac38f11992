"""Sandbox memory snapshots on the control plane (Modal's ``SandboxSnapshot``): taken from a
running gVisor sandbox, kept in ``KETCH_HOME/snapshots/<id>/``, and restored as new sandboxes.

A snapshot folder holds what the worker saved (`ketch.backends.gvisor_checkpoint`: the
sandbox's memory and files) and ``sandbox.json``: what the sandbox was made with (its
options, its built image, its app, how many processes it had started), so that a restored
sandbox is set up as the original was. The sandbox's opened secrets are not written there
(they are opened again from their ids when it is restored); its memory is, with whatever its
processes hold, so the folder is its owner's alone (0700). Snapshots stay until removed.

Example::

    answer = await snapshots.sandbox_snapshot_memory("sb-1a2b")      # {snapshot_id}
    await snapshots.sandbox_restore(answer["snapshot_id"])           # {sandbox_id}
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import exception
from ..backends.base import no_checkpoints
from .sandbox_state import SandboxState

if TYPE_CHECKING:
    from .control_plane import ControlPlane

REQUESTS = ("sandbox_snapshot_memory", "sandbox_snapshot_get", "sandbox_restore")
ID_CHARS = frozenset("0123456789abcdef")


class SandboxSnapshots:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.root = control_plane.state_dir / "snapshots"

    async def sandbox_snapshot_memory(self, sandbox_id: str) -> dict[str, Any]:
        """Snapshot the running sandbox (it goes on): {snapshot_id}."""
        sb = self.cp.sandboxes._live(sandbox_id)
        if sb.runtime != "gvisor":
            raise no_checkpoints(sb.runtime)
        snapshot_id = f"sn-{secrets.token_hex(8)}"
        folder = self.root / snapshot_id
        self.root.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        try:
            await self.cp.worker.sandbox_checkpoint(sb.id, str(folder))
            record = {"app_id": sb.app_id, "options": sb.options, "image": sb.image,
                      "next_proc": sb.next_proc, "source": sb.id, "created": time.time()}
            fd = os.open(folder / "sandbox.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return {"snapshot_id": snapshot_id}

    async def sandbox_snapshot_get(self, snapshot_id: str) -> dict[str, Any]:
        """{snapshot_id, created, source}, or `NotFoundError`."""
        record = self._record(snapshot_id)
        return {"snapshot_id": snapshot_id, "created": record["created"],
                "source": record["source"]}

    async def sandbox_restore(self, snapshot_id: str, name: str | None = None
                              ) -> dict[str, Any]:
        """A new sandbox, in the snapshot's app (or, that app gone, the default one for
        sandboxes), whose processes go on from the snapshot: {sandbox_id}."""
        record = self._record(snapshot_id)
        app = self.cp.apps.get(record["app_id"])
        app_id = app.id if app is not None and not app.stopped else \
            (await self.cp.app_lookup("sandboxes", True))["app_id"]
        if name is not None and any(s.name == name and s.app_id == app_id
                                    and not s.done.is_set()
                                    for s in self.cp.sandboxes.sandboxes.values()):
            raise exception.AlreadyExistsError(
                f"a running sandbox is named {name!r} already; restore with another name")
        sb = SandboxState(f"sb-{secrets.token_hex(6)}", app_id, name, dict(record["options"]))
        sb.runtime = self.cp.worker.sandbox_runtime("gvisor")
        sb.image = record["image"]
        sb.next_proc = int(record["next_proc"])  # its processes keep their numbers
        self.cp.secrets.check(sb.options.get("secrets") or [], "the restored sandbox")
        await self.cp.sandboxes.launch(sb, checkpoint=str(self.root / snapshot_id))
        return {"sandbox_id": sb.id}

    def app_of(self, snapshot_id: Any) -> str | None:
        """The app the snapshot was taken in (None where there is no such snapshot)."""
        try:
            return str(self._record(snapshot_id)["app_id"])
        except exception.Error:
            return None

    def _record(self, snapshot_id: Any) -> dict[str, Any]:
        if not (isinstance(snapshot_id, str) and snapshot_id.startswith("sn-")
                and set(snapshot_id[3:]) <= ID_CHARS and len(snapshot_id) == 19):
            raise exception.InvalidError(f"{snapshot_id!r} is not a sandbox snapshot id "
                                         "(they look like sn-0123456789abcdef)")
        path = Path(self.root / snapshot_id / "sandbox.json")
        try:
            with open(path) as f:
                return dict(json.load(f))
        except FileNotFoundError:
            raise exception.NotFoundError(f"no sandbox snapshot {snapshot_id}") from None
