"""Sandbox memory snapshots on the control plane (Modal's ``SandboxSnapshot``): taken from a
running gVisor sandbox, kept in ``KETCH_HOME/snapshots/<id>/``, and restored as new sandboxes.

A snapshot folder holds what the worker saved (`ketch.backends.gvisor_checkpoint`: the
sandbox's memory and files) and ``sandbox.json``: what the sandbox was made with (its
options, its built image, its app and environment, how many processes it had started), so
that only callers of that environment reach the snapshot (`ketch.server.targets`) and a
restored sandbox is set up as the original was. The sandbox's opened secrets are not written there
(they are opened again from their ids when it is restored); its memory is, with whatever its
processes hold, so the folder is its owner's alone (0700). Snapshots stay until removed.

Example::

    taken = await snapshots.sandbox_snapshot_memory(
        protocol.SandboxSnapshotMemory(sandbox_id="sb-1a2b"), caller)
    await snapshots.sandbox_restore(protocol.SandboxRestore(snapshot_id=taken.snapshot_id),
                                    caller)                     # SandboxId: the new sandbox
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from .. import exception
from ..backends.base import no_checkpoints
from ..protocol import client as protocol
from ..protocol.definition import SandboxDefinition
from . import bucket_mounts
from .auth import Identity
from .sandbox_state import SandboxState

if TYPE_CHECKING:
    from .control_plane import ControlPlane

ID_CHARS = frozenset("0123456789abcdef")


class SandboxSnapshots:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.root = control_plane.state_dir / "snapshots"

    async def sandbox_snapshot_memory(self, req: protocol.SandboxSnapshotMemory,
                                      caller: Identity) -> protocol.SnapshotId:
        """Snapshot the running sandbox (it goes on)."""
        sb = self.cp.sandboxes._live(req.sandbox_id)
        if sb.runtime != "gvisor":
            raise no_checkpoints(sb.runtime)
        snapshot_id = f"sn-{secrets.token_hex(8)}"
        folder = self.root / snapshot_id
        self.root.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700)
        try:
            await self.cp.worker.sandbox_checkpoint(sb.id, str(folder))
            record = {"app_id": sb.app_id, "environment": self.cp.state.apps[sb.app_id].environment,
                      "options": msgspec.to_builtins(sb.options), "image": sb.image, "next_proc": sb.next_proc,
                      "source": sb.id, "created": time.time()}
            fd = os.open(folder / "sandbox.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return protocol.SnapshotId(snapshot_id=snapshot_id)

    async def sandbox_snapshot_get(self, req: protocol.SandboxSnapshotGet, caller: Identity
                                   ) -> protocol.SnapshotInfo:
        record = self.record(req.snapshot_id)
        return protocol.SnapshotInfo(snapshot_id=req.snapshot_id, created=record["created"],
                                     source=record["source"])

    async def sandbox_restore(self, req: protocol.SandboxRestore, caller: Identity
                              ) -> protocol.SandboxId:
        """A new sandbox whose processes go on from the snapshot: in the caller's app for a
        container (as the sandboxes it creates), else in the snapshot's app, or, that app
        gone, the default one for sandboxes of the snapshot's environment."""
        record = self.record(req.snapshot_id)
        environment = record.get("environment", "main")
        app = self.cp.state.apps.get(caller.app_id or record["app_id"])
        if app is None or app.stopped:
            app = self.cp.app_service.lookup("sandboxes", environment, create_if_missing=True)
        if req.name is not None and any(s.name == req.name and s.app_id == app.id
                                        and not s.done.is_set()
                                        for s in self.cp.sandboxes.sandboxes.values()):
            raise exception.AlreadyExistsError(
                f"a running sandbox is named {req.name!r} already; restore with another name")
        sb = SandboxState(f"sb-{secrets.token_hex(6)}", app.id, req.name,
                          msgspec.convert(record["options"], SandboxDefinition))
        sb.runtime = self.cp.worker.sandbox_runtime("gvisor")
        sb.image = record["image"]
        sb.next_proc = int(record["next_proc"])  # its processes keep their numbers
        self.cp.secrets.check(sb.options.secrets, "the restored sandbox",
                              environment)
        await bucket_mounts.check(self.cp.secrets, sb.options.cloud_bucket_mounts,
                                  "the restored sandbox", environment, probe=False)
        await self.cp.sandboxes.launch(sb, checkpoint=str(self.root / req.snapshot_id))
        return protocol.SandboxId(sandbox_id=sb.id)

    def rename_environment(self, name: str, new_name: str) -> None:
        for path in self.root.glob("sn-*/sandbox.json") if self.root.is_dir() else []:
            record = json.loads(path.read_text())
            if record.get("environment", "main") == name:
                record["environment"] = new_name
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(record, f)
                os.replace(tmp, path)

    def record(self, snapshot_id: str) -> dict[str, Any]:
        """What the snapshot was taken of (see the module's doc), or `NotFoundError`."""
        if not (snapshot_id.startswith("sn-")
                and set(snapshot_id[3:]) <= ID_CHARS and len(snapshot_id) == 19):
            raise exception.InvalidError(f"{snapshot_id!r} is not a sandbox snapshot id "
                                         "(they look like sn-0123456789abcdef)")
        path = Path(self.root / snapshot_id / "sandbox.json")
        try:
            with open(path) as f:
                return dict(json.load(f))
        except FileNotFoundError:
            raise exception.NotFoundError(f"no sandbox snapshot {snapshot_id}") from None
