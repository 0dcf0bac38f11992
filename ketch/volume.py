"""`Volume` (being written)."""

from __future__ import annotations

from .object import NamedObject


class Volume(NamedObject):
    KIND = "volume"
