"""Whatever a container prints, the worker reads it to the end, reaps the container and frees
its capacity; the control plane keeps bounded logs of it, in memory and in the store."""

from __future__ import annotations

import time

from embedded import control_plane, wait_for

from ketch.protocol.client import LogLine
from ketch.server.logs import AppLogs
from ketch.worker.output import MAX_LINE, LineSplitter

from apps import noisy


def test_a_10_mib_line_without_newline_neither_kills_the_watcher_nor_leaks_the_container():
    with noisy.app.run():
        cp = control_plane()
        assert noisy.long_line.spawn(1).get(timeout=60) == 1
        assert noisy.long_line.spawn(2).get(timeout=60) == 2  # the worker still runs calls
        fn = cp.state.functions[noisy.long_line.object_id]
        containers = set(fn.containers)
        app_id = noisy.app.app_id

        def logged() -> int:  # output reaches the logbook after the call's result does
            cp.logbook.flush()
            rows = cp.store.fetchall("SELECT length(text) FROM logs WHERE app_id = ? AND "
                                     "function = ?", (app_id, "long_line"))
            return sum(r[0] for r in rows)

        wait_for(lambda: logged() >= 2 * noisy.HUGE, 30)
    # the app stopped: its containers were reaped, and the worker holds none of them
    assert containers and not containers & set(cp.worker._tasks)
    assert not containers & set(cp.worker.capacity._held)
    cp.logbook.flush()
    rows = cp.store.fetchall("SELECT length(text) FROM logs WHERE app_id = ? AND function = ?",
                             (app_id, "long_line"))
    assert max(r[0] for r in rows) <= MAX_LINE  # handed on in pieces
    assert sum(r[0] for r in rows) >= 2 * noisy.HUGE  # and none of it lost


def test_the_logs_table_stays_bounded_after_many_lines():
    with noisy.app.run():
        cp = control_plane()
        cp.logbook.max_rows_per_app = 1000
        assert noisy.many_lines.spawn(20_000).get(timeout=120) == 20_000
        app_id = noisy.app.app_id
        assert wait_for(lambda: _logged(cp, app_id, "line 19999"), 20)
    cp.logbook.flush()
    cp.logbook.prune(time.time())
    count = cp.store.fetchone("SELECT COUNT(*) FROM logs WHERE app_id = ?", (app_id,))[0]
    assert count <= 1000
    newest = cp.store.fetchone("SELECT text FROM logs WHERE app_id = ? ORDER BY id DESC "
                               "LIMIT 1", (app_id,))
    assert newest is not None
    cp.logbook.prune(time.time() + 8 * 24 * 3600)  # past the 7 days a line is kept
    assert cp.store.fetchone("SELECT COUNT(*) FROM logs WHERE app_id = ?", (app_id,))[0] == 0


def _logged(cp, app_id: str, text: str) -> bool:
    cp.logbook.flush()
    return cp.store.fetchone("SELECT 1 FROM logs WHERE app_id = ? AND text = ?",
                             (app_id, text)) is not None


def test_in_memory_logs_are_capped_by_bytes_not_only_lines():
    logs = AppLogs(max_lines=1000, max_bytes=1 << 20)
    for i in range(100):
        logs.append(LogLine(function="f", container_id="ct", stream="stdout",
                            text=f"{i}:" + "y" * (64 << 10)))
    lines = logs._lines
    assert sum(len(line.text) for line in lines) <= 1 << 20
    assert lines[-1].text.startswith("99:")


def test_splitter_cuts_long_lines_and_keeps_characters_whole():
    lines = LineSplitter(max_line=4)
    out = lines.feed(b"ab\ncdefghij")
    out += lines.feed("é\n".encode()[:1]) + lines.feed("é\n".encode()[1:])
    assert out == ["ab", "cdef", "ghij", "é"]
    assert lines.feed(b"tail") == ["tail"] and lines.end() == []
    assert lines.feed(b"end") == [] and lines.end() == ["end"]


def test_a_line_ends_at_a_newline_a_crlf_or_a_lone_carriage_return():
    lines = LineSplitter()
    assert lines.feed(b"\r 0%|") == []  # a progress bar's first \r ends nothing
    assert lines.feed(b"\r 1%|\r") == [" 0%|\r"]  # this \r may be a \r\n's: held back
    assert lines.feed(b"\n") == [" 1%|"]
    assert lines.feed(b"done\r\nnext\r\r") == ["done", "next\r"]
    assert lines.end() == []
