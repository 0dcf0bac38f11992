"""Containers on a Ray cluster: `RayWorker` on the control plane's side, one `ContainerActor`
per container on the nodes. Needs ``pip install 'ketch[ray]'``; see docs/ray.md."""

from .worker import RayWorker, connect

__all__ = ["RayWorker", "connect"]
