"""`Dict` (being written)."""

from __future__ import annotations

from .object import NamedObject


class Dict(NamedObject):
    KIND = "dict"
