"""The dicts service of the control plane (being written)."""

from __future__ import annotations

from .objects import NamedObjects
from .store import Store

REQUESTS: tuple[str, ...] = ()


class DictService:
    def __init__(self, store: Store, objects: NamedObjects) -> None:
        self.store = store
        objects.droppers["dict"] = self.drop

    def drop(self, object_id: str) -> None:
        """Forget everything the object held."""
