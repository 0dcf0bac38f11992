"""``ketch queue`` (being written)."""

from __future__ import annotations

import click


@click.group("queue")
def queue_group() -> None:
    """Manage queues."""
