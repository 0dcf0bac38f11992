"""A control plane in this process, started on first use and stopped at exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..server import ControlPlane


class EmbeddedTransport:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.control_plane = control_plane

    @classmethod
    async def start(cls, state_dir: Path, max_containers: int | None) -> EmbeddedTransport:
        control_plane = ControlPlane(state_dir, max_containers=max_containers)
        await control_plane.start()
        return cls(control_plane)

    async def request(self, kind: str, body: dict[str, Any]) -> Any:
        return await self.control_plane.handle(kind, body)

    async def close(self) -> None:
        await self.control_plane.close()
