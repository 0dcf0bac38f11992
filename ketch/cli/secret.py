"""``ketch secret`` (being written)."""

from __future__ import annotations

import click


@click.group("secret")
def secret_group() -> None:
    """Manage secrets."""
