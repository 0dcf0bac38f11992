"""``@app.cls`` classes: parameters, ``@enter``, ``@exit``, methods, in real containers."""

from __future__ import annotations

import os

import pytest

import ketch
from ketch import exception

from apps import classes


def test_methods_run_in_a_container_that_ran_enter_once(capsys):
    with ketch.enable_output():
        with classes.app.run():
            counter = classes.Counter(start=10, label="a")
            assert counter.incr.remote() == "a:11"
            assert counter.incr.remote(5) == "a:16"  # same container, state kept
            entered, pid = counter.state.remote()
            assert entered == 1 and pid.split(":")[1] != str(os.getpid())
            assert list(counter.stream.remote_gen(3)) == [0, 1, 2]
            assert list(counter.incr.map([1, 1])) == ["a:17", "a:18"]
    assert "] exit hook ran for a" in capsys.readouterr().out


def test_each_parameter_set_gets_its_own_containers():
    with classes.app.run():
        a = classes.Counter(label="x")
        b = classes.Counter(label="y", start=100)
        assert a.incr.remote() == "x:1"
        assert b.incr.remote() == "y:101"
        assert a.state.remote()[1] != b.state.remote()[1]
        assert classes.NeedsParam(name="ketch").hello.remote() == "hello ketch"


def test_local_method_runs_enter_here():
    assert classes.Counter(start=1).incr.local(2) == "c:3"


def test_parameter_errors():
    with pytest.raises(exception.InvalidError, match="missing the parameter 'name'"):
        classes.NeedsParam()
    with pytest.raises(exception.InvalidError, match="no parameter 'nme'"):
        classes.NeedsParam(nme="x")
    with pytest.raises(AttributeError, match="no method 'nope'"):
        _ = classes.Counter().nope


def test_failing_enter_fails_the_input_with_its_error():
    with classes.app.run():
        with pytest.raises(RuntimeError, match="enter failed on purpose"):
            classes.BrokenEnter().run.remote()


def test_with_options_on_a_class():
    with classes.app.run():
        quick = classes.Counter.with_options(timeout=5, retries=1)
        assert quick(label="w").incr.remote() == "w:1"
