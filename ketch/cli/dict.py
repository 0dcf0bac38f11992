"""``ketch dict`` (being written)."""

from __future__ import annotations

import click


@click.group("dict")
def dict_group() -> None:
    """Manage dicts."""
