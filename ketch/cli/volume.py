"""``ketch volume`` (being written)."""

from __future__ import annotations

import click


@click.group("volume")
def volume_group() -> None:
    """Manage volumes."""
