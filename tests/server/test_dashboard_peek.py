"""`peek.describe`: plain data shown, anything else named, nothing unpickled that could run."""

from __future__ import annotations

import os
import pickle

import cloudpickle

from ketch.retries import Retries
from ketch.server.dashboard.peek import MAX_SHOWN, describe


class Bomb:
    def __reduce__(self):
        return (os.system, ("touch /tmp/ketch-peek-must-not-run",))


def test_plain_data_is_shown_and_objects_are_named_without_running_them(tmp_path):
    assert describe(pickle.dumps({"a": [1, 2.5, None, True], "b": b"x"})) == \
        "{'a': [1, 2.5, None, True], 'b': b'x'}"
    assert describe(pickle.dumps({1, 2}, protocol=2)) == "{1, 2}"
    assert describe(cloudpickle.dumps(Retries(max_retries=2))).startswith(
        "a pickled ketch.retries.Retries (")
    assert describe(pickle.dumps(Bomb())).startswith("a pickled posix.system (")
    assert not os.path.exists("/tmp/ketch-peek-must-not-run")
    assert describe(b"not a pickle") == "a pickled object (12 bytes)"
    long = describe(pickle.dumps("x" * 1000))
    assert len(long) == MAX_SHOWN + 1 and long.endswith("…")
