"""One function's bad autoscaler settings cannot stall the control plane: they are refused
where they enter, and a function whose state fails anyway only fails its own piece of the tick."""

from __future__ import annotations

import logging

import pytest
from embedded import control_plane, wait_for

from ketch import client, exception
from ketch.protocol import client as protocol
from ketch.protocol.definition import FunctionDefinition, FunctionOptions, replace
from ketch.server.tick_guard import TickGuard

from apps import autoscaled


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"scaledown_window": "soon"}, "scaledown_window='soon'"),
        ({"scaledown_window": float("nan")}, "scaledown_window=nan"),
        ({"min_containers": "2"}, "min_containers='2'"),
        ({"max_containers": -1}, "max_containers=-1"),
        ({"buffer_containers": True}, "buffer_containers=True"),
        ({"min_containers": 3, "max_containers": 1}, "max_containers=1 is below"),
    ],
)
def test_bad_autoscaler_settings_sent_raw_are_refused(settings, named):
    with autoscaled.app.run():
        function_id = autoscaled.second.object_id
        with pytest.raises(exception.InvalidError, match=named):
            client.send_blocking(protocol.FunctionUpdateAutoscaler(
                function_id=function_id, settings=protocol.AutoscalerSettings(**settings)))
        assert autoscaled.second.remote(1)  # the function and the tick go on as before
        assert control_plane().state.functions[function_id].options.scaledown_window == 1


def test_bad_option_in_a_raw_function_definition_is_refused():
    with autoscaled.app.run():
        # well typed, so it gets past decoding; out of range, which the SDK would refuse
        definition = FunctionDefinition(name="raw", options=FunctionOptions(scaledown_window=-5))
        with pytest.raises(exception.InvalidError, match="scaledown_window=-5"):
            client.send_blocking(protocol.FunctionCreate(app_id=autoscaled.app.app_id,
                                                         definition=definition))


def test_a_function_whose_state_fails_does_not_stop_the_others(caplog):
    with autoscaled.app.run():
        cp = control_plane()
        bad = cp.state.functions[autoscaled.first.object_id]
        good = cp.state.functions[autoscaled.second.object_id]
        assert list(cp.state.functions).index(bad.id) < list(cp.state.functions).index(good.id)
        # as if a value had got past every check: reading this function's state now raises
        bad.options = replace(bad.options, max_inputs="many")
        with caplog.at_level(logging.ERROR, logger="ketch"):
            assert autoscaled.second.remote(1)
            # only the tick scales an idle container down: it went on past the bad function
            assert wait_for(lambda: not good.containers, 20)
        failures = [r for r in caplog.records if bad.id in r.getMessage()]
        assert len(failures) == 1  # logged once, not every tick


def test_guard_logs_a_failing_piece_once_until_it_recovers(caplog):
    guard, served = TickGuard(), []
    outcomes = [True, True, False, True]  # fails, fails, recovers, fails anew
    with caplog.at_level(logging.ERROR, logger="ketch"):
        for fails in outcomes:
            with guard.piece("bad", "serving bad"):
                if fails:
                    raise ValueError("broken state")
            with guard.piece("good", "serving good"):
                served.append("good")
    assert served == ["good"] * 4
    assert [r.getMessage().split(" failed")[0] for r in caplog.records] == [
        "control plane tick: serving bad"] * 2
