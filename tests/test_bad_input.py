"""Bad input gets an error naming the problem and the fix, before any container starts."""

from __future__ import annotations

import threading

import pytest

import ketch
from ketch import exception, serialization

from apps import basic


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gpu": 5}, "gpu must be a string"),
        ({"gpu": "H1000"}, "unknown gpu 'H1000'"),
        ({"cpu": "x"}, "cpu must be a number"),
        ({"memory": -1}, "memory"),
        ({"timeout": 0}, "timeout must be a number above 0"),
        ({"retries": "3"}, "retries must be an int"),
        ({"max_containers": 1, "min_containers": 2}, "max_containers must be ≥ min_containers"),
        ({"timout": 10}, "unknown keyword 'timout'. Did you mean 'timeout'"),
    ],
)
def test_bad_decorator_keywords(kwargs, match):
    app = ketch.App("bad")
    with pytest.raises(exception.InvalidError, match=match):
        app.function(**kwargs)


def test_missing_parentheses():
    app = ketch.App("bad")
    with pytest.raises(exception.InvalidError, match=r"@app.function\(\)"):
        app.function(lambda: None)


def test_function_defined_inside_a_function_needs_serialized():
    app = ketch.App("bad")

    def inner():
        return 1

    with pytest.raises(exception.InvalidError, match="serialized=True"):
        app.function()(inner)
    assert app.function(serialized=True)(inner).tag == "inner"


def test_serialized_function_runs_in_a_container():
    app = ketch.App("serialized")
    factor = 7

    def times(x):
        return x * factor

    times_fn = app.function(serialized=True)(times)
    with app.run():
        assert times_fn.remote(6) == 42


def test_unpicklable_argument_is_refused_before_sending():
    with basic.app.run():
        with pytest.raises(exception.InvalidError, match="arguments cannot be pickled"):
            basic.square.remote(threading.Lock())


def test_unpicklable_return_value_is_reported():
    app = ketch.App("unpicklable")

    def make_lock():
        import threading

        return threading.Lock()

    f = app.function(serialized=True)(make_lock)
    with app.run():
        with pytest.raises(exception.InvalidError, match="return value cannot be pickled"):
            f.remote()


def test_payload_over_the_limit_names_the_limit(monkeypatch):
    monkeypatch.setattr(serialization, "MAX_PAYLOAD", 1024)
    with pytest.raises(exception.InvalidError, match="over ketch's limit of 0 MiB"):
        serialization.serialize(b"x" * 4096, "arguments")


def test_remote_outside_a_running_app():
    with pytest.raises(exception.InvalidError, match="outside a running app"):
        basic.square.remote(2)


def test_invalid_function_call_id():
    with pytest.raises(exception.InvalidError, match="start with 'fc-'"):
        ketch.FunctionCall.from_id("nope")
