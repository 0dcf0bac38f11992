"""`Logbook.search`: an app's lines by function, container, call and text, newest page first."""

from __future__ import annotations

from ketch.server.logbook import Logbook
from ketch.server.store import Store


def test_search_filters_and_pages(tmp_path):
    logbook = Logbook(Store(tmp_path / "ketch.db"))
    for i in range(10):
        logbook.add("ap-1", "square" if i % 2 else "cube", f"ct-{i % 3}", f"fc-{i % 2}",
                    "stdout", f"line {i} 100%_done\n")
    logbook.add("ap-2", "square", "ct-0", "fc-1", "stdout", "another app\n")

    def texts(**filters):
        return [line["text"].split()[1] for line in logbook.search("ap-1", **filters)]

    assert texts() == [str(i) for i in range(10)]  # oldest first, flushed first
    assert texts(function="square") == ["1", "3", "5", "7", "9"]
    assert texts(container="ct-0", call="fc-0") == ["0", "6"]
    assert texts(text="LINE 4") == ["4"]  # any case
    assert texts(text="0%_") == [str(i) for i in range(10)]  # % and _ are literal
    assert texts(text="9%x") == []
    newest = logbook.search("ap-1", limit=3)
    assert [line["text"].split()[1] for line in newest] == ["7", "8", "9"]
    assert texts(before=newest[0]["id"], limit=2) == ["5", "6"]
    assert texts(after=newest[0]["id"]) == ["8", "9"]
    assert newest[0]["call"] == "fc-1" and newest[0]["function"] == "square"
