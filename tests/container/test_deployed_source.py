"""A deployed version's module, unpacked by each of its containers into one shared folder (the
process runtime's), is never seen half written by a container starting beside another."""

from __future__ import annotations

import multiprocessing
import os
import time

TEXT = "VALUE = 1\n" + "# padding\n" * 20_000 + "def retried():\n    return VALUE\n"


def unpack_repeatedly(folder: str, seconds: float) -> None:
    from ketch.container.loader import unpack_source

    os.environ["KETCH_SOURCE_DIR"] = folder
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        unpack_source({"apps/durable.py": TEXT})


def test_containers_unpacking_one_version_together_never_read_a_partial_module(tmp_path):
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=unpack_repeatedly, args=(str(tmp_path), 1.5))
               for _ in range(2)]
    for writer in writers:
        writer.start()
    module = tmp_path / "apps" / "durable.py"
    partial = 0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        if module.exists() and module.read_text() != TEXT:
            partial += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert partial == 0
    assert sorted(os.listdir(module.parent)) == ["durable.py"]  # no partial file left behind
