"""A control plane in this process, started on first use and stopped at exit."""

from __future__ import annotations

import sys
from pathlib import Path

from ..protocol.message import Answer, Request
from ..server import ControlPlane

DASHBOARD = False  # `ketch run` sets it: its control plane serves the dashboard, and says where


class EmbeddedTransport:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.control_plane = control_plane

    @classmethod
    async def start(cls, state_dir: Path, max_containers: int | None) -> EmbeddedTransport:
        control_plane = ControlPlane(state_dir, max_containers=max_containers)
        await control_plane.start()
        if DASHBOARD:
            await control_plane.dashboard.start()
            print(f"ketch: dashboard at {control_plane.dashboard.launch_link}", file=sys.stderr)
        return cls(control_plane)

    async def request(self, request: Request) -> Answer:
        return await self.control_plane.handle(request)

    async def close(self) -> None:
        await self.control_plane.close()
