"""How many containers a function should have: a pure function from a snapshot to a plan.

The rule: enough containers that the work in hand (queued plus running inputs) drains in about
one cold start, never more than there are inputs to run at once, within ``min_containers`` and
``max_containers``, plus ``buffer_containers`` while the function is busy. Until an input has
run, the time an input takes is unknown and the function grows one container at a time; while
one runs longer than the inputs before it took, its age is the estimate, and the target grows
as it ages: the plan says when (``recheck_s``), so that a burst grows as soon as it should
rather than at the next tick. Idle containers beyond the target stop after
``scaledown_window`` seconds, the longest idle first.

`check_settings` is where those settings enter the control plane (a function's definition,
``update_autoscaler``): a value of the wrong type or range is refused there, naming the field,
the value and what is accepted, instead of failing every later tick.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .. import exception
from ..protocol.definition import FunctionOptions

MIN_HORIZON_S = 0.05
MIN_RECHECK_S = 0.001
COUNTS = ("min_containers", "max_containers", "buffer_containers")
# the per-container input counts the snapshot reads as well (0 and None: the default)
INPUT_COUNTS = ("max_inputs", "target_inputs", "batch_max_size", "inputs_per_container")
MAX_COUNT = 1 << 20
MAX_SCALEDOWN_WINDOW_S = 24 * 3600


@dataclass(frozen=True)
class Snapshot:
    pending: int  # inputs waiting for a container
    running: int  # inputs assigned to containers
    ready: int  # containers that take inputs
    starting: int  # containers not yet connected
    idle_s: dict[str, float]  # container id -> seconds idle, for ready containers with no input
    concurrency: int  # inputs one container runs at once
    input_s: float | None  # estimated seconds per input, None until one has run
    cold_start_s: float
    input_s_grows: bool = False  # input_s is a running input's age: it grows as time passes
    min_containers: int = 0
    max_containers: int | None = None
    buffer_containers: int = 0
    scaledown_window_s: float = 60.0


@dataclass(frozen=True)
class Plan:
    start: int = 0
    stop: list[str] = field(default_factory=list)
    recheck_s: float | None = None  # plan again this much later: the target will have grown


def _to_drain(s: Snapshot) -> int:
    """Containers that drain the work in hand within one cold start (at least one)."""
    horizon = max(s.cold_start_s, MIN_HORIZON_S)
    return max(1, math.ceil((s.pending + s.running) * (s.input_s or 0.0) / s.concurrency
                            / horizon))


def target(s: Snapshot) -> int:
    work = s.pending + s.running
    if work == 0:
        needed = 0
    else:
        at_once = math.ceil(work / s.concurrency)
        if s.input_s is None:
            needed = min(at_once, max(1, s.ready + s.starting))
        else:
            needed = min(at_once, _to_drain(s))
        needed += s.buffer_containers
    needed = max(needed, s.min_containers)
    if s.max_containers is not None:
        needed = min(needed, s.max_containers)
    return needed


def recheck_s(s: Snapshot) -> float | None:
    """How long until the target grows by itself: the time per input is a running input's
    age and one container more would be wanted once it is older; None if it cannot grow."""
    work = s.pending + s.running
    if not s.input_s_grows or s.input_s is None or work == 0:
        return None
    drain = _to_drain(s)
    if drain >= math.ceil(work / s.concurrency) or (
            s.max_containers is not None and target(s) >= s.max_containers):
        return None
    horizon = max(s.cold_start_s, MIN_HORIZON_S)
    return max(drain * s.concurrency * horizon / work - s.input_s, 0.0) + MIN_RECHECK_S


def plan(s: Snapshot) -> Plan:
    want = target(s)
    have = s.ready + s.starting
    if want > have:
        return Plan(start=want - have, recheck_s=recheck_s(s))
    surplus = have - want
    idle = sorted(
        (cid for cid, idle_s in s.idle_s.items() if idle_s >= s.scaledown_window_s),
        key=lambda cid: -s.idle_s[cid],
    )
    return Plan(stop=idle[:surplus], recheck_s=recheck_s(s))


def check_settings(settings: FunctionOptions) -> FunctionOptions:
    """``settings`` if each scaling value in it has the right type and range (None: unset);
    otherwise `InvalidError` naming the field, its value and what it accepts."""
    for name in (*COUNTS, *INPUT_COUNTS):
        value = getattr(settings, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= MAX_COUNT):
            raise exception.InvalidError(
                f"{name}={value!r} is not accepted: give a whole number from 0 to {MAX_COUNT}")
    window = settings.scaledown_window
    if window is not None and (isinstance(window, bool) or not isinstance(window, (int, float))
                               or not 0 < window <= MAX_SCALEDOWN_WINDOW_S):
        raise exception.InvalidError(
            f"scaledown_window={window!r} is not accepted: give seconds, a number above 0 and "
            f"at most {MAX_SCALEDOWN_WINDOW_S} (24 hours)")
    low, high = settings.min_containers, settings.max_containers
    if low is not None and high is not None and high < low:
        raise exception.InvalidError(
            f"max_containers={high} is below min_containers={low}: raise max_containers or "
            "lower min_containers")
    return settings
