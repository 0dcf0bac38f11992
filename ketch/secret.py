"""`Secret` (being written)."""

from __future__ import annotations

from .object import NamedObject


class Secret(NamedObject):
    KIND = "secret"
