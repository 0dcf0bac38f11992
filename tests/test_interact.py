"""interact(): ketch has no interactive runs, so it refuses as Modal does without -i."""

import pytest

import ketch
from ketch import exception

from apps import basic


def test_interact_is_refused_outside_a_container_and_in_a_run_without_a_terminal():
    with pytest.raises(exception.InvalidError, match="inside a function's container"):
        ketch.interact()
    with basic.app.run(), pytest.raises(exception.InvalidError, match="ketch shell"):
        basic.interactive.remote()
