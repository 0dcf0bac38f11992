"""`Queue` (being written)."""

from __future__ import annotations

from .object import NamedObject


class Queue(NamedObject):
    KIND = "queue"
