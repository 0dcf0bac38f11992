"""``KEY=VALUE`` arguments: a secret's keys, an exec's environment, tags to filter by."""

from __future__ import annotations

import click


def parse_pairs(items: tuple[str, ...], param_hint: str) -> dict[str, str]:
    """The pairs as a dict; `click.BadParameter` for one without ``=`` or without a key,
    naming only its key (after an ``=`` there may be a secret value)."""
    values = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            problem = f"{key!r} has no '='" if key else "an argument starts with '='"
            raise click.BadParameter(f"each is KEY=VALUE; {problem}", param_hint=param_hint)
        values[key] = value
    return values
