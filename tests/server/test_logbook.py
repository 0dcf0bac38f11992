"""The logbook's queries (`Logbook.select`), on a real SQLite store: what ``.logs.fetch``,
``tail`` and ``stream`` read."""

from __future__ import annotations

import asyncio
import time

from ketch.server.logbook import Logbook, LogFilter
from ketch.server.store import Store


def texts(rows):
    return [row[3] for row in rows]


def test_lines_are_narrowed_by_function_call_time_source_and_text(tmp_path):
    book = Logbook(Store(tmp_path / "ketch.db"))
    book.add("ap-1", "load", "ct-1", "fc-1", "stdout", "loading rows")
    book.add("ap-1", "load", "ct-1", "fc-1", "stderr", "a warning")
    book.add("ap-1", "load", "", None, "stderr", "waiting for resources")  # ketch's own note
    book.add("ap-1", "save", "ct-2", "fc-2", "stdout", "saving rows")
    book.add("ap-2", "load", "ct-3", "fc-3", "stdout", "another app")
    half_way = time.time()
    book.add("ap-1", "load", "ct-1", "fc-4", "stdout", "loaded 10 rows")

    def select(**where):
        return asyncio.run(book.select(LogFilter(("ap-1",), **where)))

    assert texts(select(function="load")) == [
        "loading rows", "a warning", "waiting for resources", "loaded 10 rows"]
    assert texts(select(call_id="fc-1")) == ["loading rows", "a warning"]
    assert texts(select(source="system")) == ["waiting for resources"]
    assert texts(select(source="stderr")) == ["a warning"]
    assert texts(select(search="rows")) == ["loading rows", "saving rows", "loaded 10 rows"]
    assert texts(select(since=half_way)) == ["loaded 10 rows"]
    assert texts(select(until=half_way, function="save")) == ["saving rows"]
    newest = asyncio.run(book.select(LogFilter(("ap-1",)), tail=2))
    assert texts(newest) == ["saving rows", "loaded 10 rows"]  # oldest first
    after = asyncio.run(book.select(LogFilter(("ap-1",)), after=newest[0][0]))
    assert texts(after) == ["loaded 10 rows"]


def test_a_query_after_the_last_line_waits_for_the_next(tmp_path):
    book = Logbook(Store(tmp_path / "ketch.db"))
    book.add("ap-1", "f", "ct-1", None, "stdout", "first")

    async def wait_then_add():
        last = book.last_id()
        waiting = asyncio.ensure_future(book.select(LogFilter(("ap-1",)), after=last,
                                                    timeout=5.0))
        await asyncio.sleep(0.3)
        book.add("ap-1", "f", "ct-1", None, "stdout", "second")
        return await waiting

    assert texts(asyncio.run(wait_then_add())) == ["second"]


def test_lines_of_one_container_a_page_at_a_time_newest_first(tmp_path):
    book = Logbook(Store(tmp_path / "ketch.db"))
    for i in range(10):
        book.add("ap-1", "square" if i % 2 else "cube", f"ct-{i % 3}", None, "stdout",
                 f"line {i}")

    def select(*, before=None, **where):
        return asyncio.run(book.select(LogFilter(("ap-1",), **where), tail=2, before=before))

    newest = select()
    assert texts(newest) == ["line 8", "line 9"]
    assert texts(select(before=newest[0][0])) == ["line 6", "line 7"]  # the page before
    assert texts(select(container_id="ct-0")) == ["line 6", "line 9"]
    assert newest[-1][6] == "square"  # the function that printed it
