"""A container's code may only answer the inputs its container was given: an output it forges
for another call (which that call's caller would unpickle) is dropped."""

from __future__ import annotations

from apps import forger


def test_forged_output_for_another_call_is_dropped():
    with forger.app.run():
        victim_call = forger.victim.spawn(3.0)
        assert forger.forge.remote(victim_call.object_id) == "sent"
        assert victim_call.get(timeout=60) == "the real result"
