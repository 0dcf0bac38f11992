"""`SchedulerPlacement`: where a function's containers may run (Modal's).

Example::

    @app.function(scheduler_placement=ketch.SchedulerPlacement(region=["eu-west", "eu-north"]))
    def f(): ...

On a Ray cluster a node is in a region, a zone, an instance type or the spot pool when it
advertises the resource of that name::

    ray start --address head:6379 --resources '{"region:eu-west": 1, "spot": 1}'

and a function's containers go only to nodes that have every label it asks for (any of a
list). With no node that matches, the app is refused when it starts. On one machine there is
nowhere else to go: the function runs there, and its log says that the placement was not met.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import exception


def _names(what: str, value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(item, str) and item for item in items):
        raise exception.InvalidError(f"SchedulerPlacement({what}=...) takes a name or a list of "
                                     f"names, not {value!r}")
    return items


class SchedulerPlacement:
    def __init__(self, region: str | Sequence[str] | None = None, zone: str | None = None,
                 spot: bool | None = None,
                 instance_type: str | Sequence[str] | None = None) -> None:
        if spot is not None and not isinstance(spot, bool):
            raise exception.InvalidError(f"SchedulerPlacement(spot=...) is True or False, not "
                                         f"{spot!r}")
        self.labels: dict[str, Any] = {
            "region": _names("region", region), "zone": _names("zone", zone),
            "instance_type": _names("instance_type", instance_type), "spot": spot,
        }

    def to_wire(self) -> dict[str, Any]:
        return {key: value for key, value in self.labels.items() if value is not None}

    def __repr__(self) -> str:
        return f"SchedulerPlacement({', '.join(f'{k}={v!r}' for k, v in self.to_wire().items())})"


def placement_of(kw: dict[str, Any]) -> dict[str, Any] | None:
    """The wire placement of ``@app.function``'s keywords: ``scheduler_placement=`` and
    ``region=`` (which Modal also takes alone)."""
    chosen = kw.get("scheduler_placement")
    if chosen is not None and not isinstance(chosen, SchedulerPlacement):
        raise exception.InvalidError(
            f"scheduler_placement must be a ketch.SchedulerPlacement, not {chosen!r}")
    wire = chosen.to_wire() if chosen is not None else {}
    if kw.get("region") is not None:
        wire["region"] = _names("region", kw["region"])
    return wire or None
